-- Customers by their Telegram chat: a message to the bot names only its chat, and the webhook finds the customer
-- by it (channels/telegram, server/routes/telegram-updates.ts).
CREATE INDEX IF NOT EXISTS customers_telegram_idx ON customers (workspace_id, telegram_chat_id)
  WHERE telegram_chat_id IS NOT NULL;
