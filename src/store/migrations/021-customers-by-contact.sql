-- Customers by the contact points replies come from: a message to the bot names only its chat, an SMS only its
-- number, and the webhook and the channel callbacks find the customer by it (store/inbound.ts).
CREATE INDEX IF NOT EXISTS customers_telegram_idx ON customers (workspace_id, telegram_chat_id)
  WHERE telegram_chat_id IS NOT NULL;
CREATE INDEX IF NOT EXISTS customers_phone_idx ON customers (workspace_id, phone) WHERE phone IS NOT NULL;
