// Fictional people for the synthetic bases: names, contact points that can never reach anyone real, and the
// time zones and locales of a Russian-speaking audience.
import type { Rng } from "./synthetic-base.ts";

const FIRST_NAMES = [
  "Anna",
  "Maria",
  "Elena",
  "Olga",
  "Daria",
  "Sofia",
  "Irina",
  "Natalia",
  "Ksenia",
  "Polina",
  "Alexei",
  "Dmitry",
  "Ivan",
  "Sergei",
  "Andrei",
  "Mikhail",
  "Nikita",
  "Pavel",
  "Artem",
  "Maxim",
  "Egor",
  "Kirill",
  "Roman",
  "Yulia",
];
const LAST_NAMES = [
  "Ivanova",
  "Smirnova",
  "Kuznetsova",
  "Popova",
  "Sokolova",
  "Lebedeva",
  "Novikova",
  "Morozova",
  "Volkova",
  "Ivanov",
  "Smirnov",
  "Kuznetsov",
  "Popov",
  "Sokolov",
  "Lebedev",
  "Novikov",
  "Morozov",
  "Volkov",
  "Orlov",
];
// Reserved domains only: a synthetic base must never reach a real mailbox.
const EMAIL_DOMAINS = ["example.com", "example.org", "example.net", "mail.example", "inbox.example"];
// North American 555-01XX numbers are reserved for fiction: valid numbers that never ring anyone.
const AREA_CODES = [
  201, 202, 203, 205, 206, 207, 208, 209, 210, 212, 213, 214, 215, 216, 217, 218, 219, 224, 225, 228, 229,
  231, 234, 239, 240, 248, 251, 252, 253, 254, 256, 260, 262, 267, 269, 270, 301, 302, 303, 304, 305, 307,
  308, 309, 310, 312, 313, 314, 315, 316, 317, 318, 319, 320, 321, 323, 325, 330, 334, 336, 337, 339, 347,
  351, 352, 360,
];
export const TIMEZONES: readonly (readonly [string, number])[] = [
  ["Europe/Moscow", 62],
  ["Asia/Yekaterinburg", 10],
  ["Asia/Novosibirsk", 7],
  ["Europe/Samara", 5],
  ["Asia/Krasnoyarsk", 4],
  ["Europe/Kaliningrad", 3],
  ["Asia/Vladivostok", 3],
  ["Asia/Almaty", 3],
  ["Europe/Berlin", 3],
];
export const LOCALES: readonly (readonly [string, number])[] = [
  ["ru-RU", 85],
  ["en-US", 8],
  ["kk-KZ", 3],
  ["de-DE", 4],
];

export interface Person {
  firstName: string;
  lastName: string;
  email: string;
  phone: string;
}

/** A fictional person; the key makes the email unique within the base. */
export function person(rng: Rng, key: number): Person {
  const firstName = rng.pick(FIRST_NAMES);
  const lastName = rng.pick(LAST_NAMES);
  const email = `${firstName}.${lastName}.${key.toString(36)}@${rng.pick(EMAIL_DOMAINS)}`.toLowerCase();
  const line = String(rng.int(0, 99)).padStart(2, "0");
  return { firstName, lastName, email, phone: `+1${rng.pick(AREA_CODES)}55501${line}` };
}
