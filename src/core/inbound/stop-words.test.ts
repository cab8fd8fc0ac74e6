import assert from "node:assert/strict";
import { test } from "node:test";
import { isStopWord } from "./stop-words.ts";

test("the STOP family, exactly, in any case", () => {
  for (const w of [
    "STOP",
    "stop",
    " Stop. ",
    "STOPALL",
    "unsubscribe",
    "Cancel!",
    "end",
    "QUIT",
    "стоп",
    "Отписка",
  ])
    assert.equal(isStopWord(w), true, w);
  for (const w of ["stop sending at night", "STOP STOP", "stopp", "9", "", "please stop", "end?"])
    assert.equal(isStopWord(w), false, w);
});
