r"""Prompt-injection detection model (issue 4): pattern families + cheap features -> risk score.

This module is the Python REFERENCE for `prompt_guard injection detect|block [threshold N]`.
The generated C must compute exactly the same `score()`; everything below is specified at the
byte level so that it can. tests/compiler/test_injection.py measures it on
tests/data/injection/eval.jsonl and pins the rules below.

Pipeline for one message (the UTF-8 bytes of a user or tool message)
--------------------------------------------------------------------
1. `normalise(data)`: ONE left-to-right pass that writes `norm` and counters:
   a. zero-width characters E2 80 8B, E2 80 8C, E2 80 8D (U+200B..D), E2 81 A0 (U+2060) and
      EF BB BF (U+FEFF) are dropped. `zero_width` counts them; `zero_width_in_word` counts
      those whose last emitted byte is an ASCII letter AND whose next emitted byte is an ASCII
      letter (they split a word; emoji ZWJ sequences and a leading BOM do not count). They
      neither end a word nor a tag run.
   b. Unicode tag characters F3 A0 80 A0..BF and F3 A0 81 80..BE (U+E0020..U+E007E, "ASCII
      smuggling") are emitted as the ASCII byte they shadow (0x20..0x7E) and counted;
      `tag_run` is the longest run of consecutive ones. Other F3 A0 80/81 xx tag characters
      (language tag, cancel tag) are dropped and end a run; so does any other character.
   c. Fullwidth digits and letters EF BC 90..99, EF BC A1..BA, EF BD 81..9A
      (U+FF10..U+FF5A without punctuation) are emitted as ASCII (code point - 0xFEE0).
   d. The 2-byte sequences in `HOMOGLYPHS` (Cyrillic/Greek letters that look Latin) are
      emitted as one lowercase ASCII letter.
   e. Every other byte is copied (no case folding: patterns are case-insensitive instead).
   Words: maximal runs of emitted ASCII letters and bytes >= 0x80. `mixed_script_words`
   counts words holding both an ASCII letter from b/c/e and one from d ("pаypal" with a
   Cyrillic a); a Russian word whose letters happen to fold does not count.
2. Leet view: in every maximal run of [A-Za-z0-9@$] of `norm` that contains an ASCII letter,
   read 0 1 3 4 5 7 @ $ as o i e a s t a s (a leading @ or $ is kept). See `leet_view`.
3. Scan `b"\n" + norm + b"\n"` (and the same around the leet view when it differs) with the
   DFAs of every family pattern, all compiled with the case-insensitive flag (ASCII A-Z only).
   The added newlines stand in for anchors (`\n...` patterns match at the start of the text).
   Byte semantics, as compiler/regex implements them: `\w` = [A-Za-z0-9_], `\d` = [0-9],
   `\s` = [ \t\n\r\f\v], `\b` uses that `\w` (bytes >= 0x80 are non-word), `\xHH` is one
   byte, a non-ASCII literal is its UTF-8 sequence. Only existence matters: a family matches
   if any of its patterns matches anywhere, and counts once. Match extents are never used,
   so the C side may skip the per-pattern forward/reverse DFAs.
4. Base64: maximal runs of [A-Za-z0-9+/] in `norm` (case preserved: decode from `norm`, not
   from a lowercased copy) of at least `B64_MIN_RUN` bytes, plus up to two '=' (the DFA
   pattern `[a-z0-9+/]{20,}={0,2}` under the case-insensitive flag finds the same runs). A run
   of at least `B64_BLOB_RUN` base64 characters fires `base64_blob`. The C side SHOULD decode:
   the first `B64_MAX_RUNS` runs, each with `decode_b64_run` (at most `B64_MAX_CHARS`
   characters); a result of at least `B64_MIN_DECODED` bytes that `is_text` (strict UTF-8,
   no control characters) goes through steps 1-3 again (no further decoding) and the
   families it matches are added; if it matched any, `base64_instruction` fires. The cost is
   bounded (4 x 768 decoded bytes) and it is the only way to see "decode this" attacks whose
   framing is innocuous ("Here is my request, base64 encoded: ...").
5. score = sum of the weights of the matched families + the weights of the features whose
   value reaches `min_count`, clipped to 0..100. `prompt_guard injection` flags (detect) or
   rejects (block) when score >= threshold, `DEFAULT_THRESHOLD` unless given.

Weights at or above the threshold go only to phrasings that are close to unambiguous
("ignore all previous instructions", "what is your system prompt", "AI assistant reading
this:", a run of >= 8 tag characters); ambiguous signals (role play, "developer mode", fake
delimiters, "from now on", base64 data) weigh less, so that two of them are needed.
"""

from __future__ import annotations

import base64
import re
from dataclasses import dataclass, field
from functools import cache

__all__ = [
    "DEFAULT_THRESHOLD",
    "FAMILIES",
    "FEATURES",
    "HOMOGLYPHS",
    "Counts",
    "Family",
    "Feature",
    "normalise",
    "score",
]

DEFAULT_THRESHOLD = 50

B64_MIN_RUN = 20
B64_BLOB_RUN = 40
B64_MAX_RUNS = 4
B64_MAX_CHARS = 1024
B64_MIN_DECODED = 12


@dataclass(frozen=True)
class Family:
    name: str
    weight: int
    patterns: tuple[str, ...]


@dataclass(frozen=True)
class Feature:
    name: str
    weight: int
    min_count: int
    description: str


FEATURES: tuple[Feature, ...] = (
    Feature("zero_width_in_word", 25, 1, "zero-width characters splitting an ASCII word"),
    Feature("mixed_script_word", 25, 1, "a word mixing ASCII and Cyrillic/Greek look-alikes"),
    Feature("tag_run", 50, 8, "a run of Unicode tag characters (invisible ASCII); flags use 5"),
    Feature("base64_blob", 10, 1, f"a base64-looking run of >= {B64_BLOB_RUN} bytes"),
    Feature("base64_instruction", 20, 1, "decoded base64 matched at least one family"),
)

# ---- normalisation tables -------------------------------------------------------------------

ZERO_WIDTH: tuple[bytes, ...] = (
    b"\xe2\x80\x8b",
    b"\xe2\x80\x8c",
    b"\xe2\x80\x8d",
    b"\xe2\x81\xa0",
    b"\xef\xbb\xbf",
)

# Cyrillic and Greek letters that render like Latin letters -> that Latin letter (lowercase).
_HOMOGLYPH_CHARS = {
    # Cyrillic lowercase
    "а": "a", "е": "e", "о": "o", "р": "p", "с": "c", "у": "y", "х": "x",
    "і": "i", "ј": "j", "ѕ": "s", "һ": "h", "ԁ": "d",
    # Cyrillic uppercase
    "А": "a", "В": "b", "Е": "e", "К": "k", "М": "m", "Н": "h", "О": "o",
    "Р": "p", "С": "c", "Т": "t", "Х": "x", "І": "i", "Ј": "j", "Ѕ": "s",
    # Greek
    "α": "a", "ο": "o", "ι": "i", "κ": "k", "ν": "v", "ρ": "p", "τ": "t", "υ": "u",
    "Α": "a", "Β": "b", "Ε": "e", "Ζ": "z", "Η": "h", "Ι": "i", "Κ": "k", "Μ": "m",
    "Ν": "n", "Ο": "o", "Ρ": "p", "Τ": "t", "Υ": "y", "Χ": "x",
}  # fmt: skip
HOMOGLYPHS: dict[bytes, int] = {k.encode(): ord(v) for k, v in _HOMOGLYPH_CHARS.items()}
assert all(len(k) == 2 for k in HOMOGLYPHS)


def _fold(s: str) -> str:
    """A pattern literal as normalise() will present it (for Cyrillic/Greek literals)."""
    return "".join(_HOMOGLYPH_CHARS.get(c, c) for c in s)


@dataclass
class Counts:
    zero_width: int = 0
    zero_width_in_word: int = 0
    tag_chars: int = 0
    tag_run: int = 0  # longest run of consecutive tag characters
    mixed_script_words: int = 0


def _is_letter(b: int) -> bool:
    return 0x41 <= b <= 0x5A or 0x61 <= b <= 0x7A


def normalise(data: bytes) -> tuple[bytes, Counts]:
    """Step 1 of the module docstring, byte for byte as the C side must do it."""
    out = bytearray()
    c = Counts()
    zw_pending = 0  # zero-width chars seen right after an ASCII letter
    word_ascii = word_glyph = False
    run = 0  # current run of tag characters
    i, n = 0, len(data)

    def emit(b: int, glyph: bool = False) -> None:
        nonlocal zw_pending, word_ascii, word_glyph
        if zw_pending and _is_letter(b):
            c.zero_width_in_word += zw_pending
        zw_pending = 0
        if _is_letter(b) or b >= 0x80:
            if glyph:
                word_glyph = True
            elif _is_letter(b):
                word_ascii = True
        else:
            if word_ascii and word_glyph:
                c.mixed_script_words += 1
            word_ascii = word_glyph = False
        out.append(b)

    while i < n:
        b0 = data[i]
        if b0 in (0xE2, 0xEF) and data[i : i + 3] in ZERO_WIDTH:
            c.zero_width += 1
            if out and _is_letter(out[-1]):
                zw_pending += 1
            i += 3
            continue
        if b0 == 0xF3 and i + 3 < n and data[i + 1] == 0xA0 and data[i + 2] in (0x80, 0x81):
            b2, b3 = data[i + 2], data[i + 3]
            i += 4
            if b2 == 0x80 and 0xA0 <= b3 <= 0xBF:
                tag = b3 - 0x80  # U+E0020..U+E003F -> 0x20..0x3F
            elif b2 == 0x81 and 0x80 <= b3 <= 0xBE:
                tag = b3 - 0x40  # U+E0040..U+E007E -> 0x40..0x7E
            else:  # other tag characters (language tag, cancel tag): dropped, end a run
                run = 0
                continue
            c.tag_chars += 1
            run += 1
            c.tag_run = max(c.tag_run, run)
            emit(tag)
            continue
        run = 0
        if b0 == 0xEF and i + 2 < n:
            b1, b2 = data[i + 1], data[i + 2]
            if (b1 == 0xBC and (0x90 <= b2 <= 0x99 or 0xA1 <= b2 <= 0xBA)) or (
                b1 == 0xBD and 0x81 <= b2 <= 0x9A
            ):
                emit(((b1 & 0x03) << 6 | (b2 & 0x3F)) + 0x20)  # code point - 0xFEE0
                i += 3
                continue
        if 0xC0 <= b0 < 0xE0 and (g := HOMOGLYPHS.get(data[i : i + 2])) is not None:
            emit(g, glyph=True)
            i += 2
            continue
        emit(b0)
        i += 1
    emit(0x20)  # end of text ends the last word
    out.pop()
    return bytes(out), c


# ---- pattern building blocks ----------------------------------------------------------------
# All patterns are lowercase and compiled case-insensitively; they use only the DFA subset
# (literals, classes, \d \w \s, groups, alternation, * + ? {n,m}, \b only at the very start or
# end). No pattern may use '.', lookaround, backreferences, anchors or lazy quantifiers.


def alt(*words: str) -> str:
    """Alternation of phrases; a space inside a phrase matches any run of whitespace."""
    return "(" + "|".join(w.replace(" ", r"\s+") for w in words) + ")"


# Whitespace, then any number of words each followed by whitespace. Unbounded on purpose:
# counted gaps ("up to 3 words") multiply DFA states, while this gap costs one state bit and
# still stops at punctuation, so the phrase must sit inside one clause.
GAP = r"\s+([\w\x80-\xff'-]+\s+)*"


_W = r"[\w\x80-\xff]*"  # rest of a word (UTF-8 letters are bytes >= 0x80)
_WORD = r"[\w\x80-\xff'-]+"  # one word, any script

IGNORE = alt("ignore", "disregard", "forget", "skip", "bypass", "override", "neglect",
             "discard", "drop", "throw out", "set aside", "pay no attention to", "overlook",
             "abandon", "dismiss", "erase", "clear", "do not follow", "don't follow",
             "stop following", "forego")  # fmt: skip
PREVIOUS = alt("previous", "prior", "above", "earlier", "preceding", "foregoing", "former",
               "original", "initial", "existing", "all", "any", "every")  # fmt: skip
# Words allowed between PREVIOUS and DIRECTIVES ("all prior system instructions"); a closed
# list, so that "the earlier dosage instructions" does not match.
QUALIFIER = alt("system", "safety", "ai", "developer", "given", "original", "initial",
                "hidden", "set of", "the", "of", "your", "and", "its")  # fmt: skip
DIRECTIVES = alt("instructions", "instruction", "directions", "prompt", "prompts", "rules",
                 "guidelines", "commands", "directives", "constraints", "guardrails",
                 "programming", "orders", "context", "guidance", "restrictions", "policies",
                 "training")  # fmt: skip
BREAK = alt("ignore", "disregard", "forget", "bypass", "override", "circumvent", "evade",
            "escape", "violate", "drop", "abandon", "suspend", "disable", "deactivate",
            "turn off", "switch off", "get around", "work around", "set aside", "ditch",
            "neglect", "pay no attention to", "stop following", "do not follow",
            "don't follow", "not follow", "stop obeying", "do not obey", "don't obey",
            "free yourself from", "break free of", "break free from")  # fmt: skip
YOUR_RULES = alt("rules", "guidelines", "instructions", "programming", "training", "safety",
                 "filters", "restrictions", "policies", "policy", "guardrails", "ethics",
                 "principles", "directives", "system prompt", "constraints", "alignment",
                 "limitations", "morals", "conditioning", "protocols",
                 "safeguards")  # fmt: skip
AI = alt("ai", "a\\.i\\.", "assistant", "llm", "language model", "large language model",
         "chatbot", "model", "bot", "agent", "copilot", "gpt", "chatgpt", "claude", "gemini",
         "ai model", "ai assistant", "ai agent", "coding agent", "ai coding agent",
         "support bot", "automated assistant", "screener", "summarizer", "ai reviewer",
         "ai screener", "ai system", "ai reader", "crawler")  # fmt: skip
PROMPT_NOUN = alt("system prompt", "system message", "initial prompt", "original prompt",
                  "hidden prompt", "pre-?prompt", "meta-?prompt", "prompt", "instructions",
                  "directives", "configuration", "system instructions", "initial instructions",
                  "hidden instructions", "secret instructions", "context window")  # fmt: skip
# Unambiguous names of an AI (not "assistant", which is also a job title).
AI_NAME = alt("ai", "llm", "language model", "chatbot", "gpt", "chatgpt", "copilot", "claude",
              "gemini", "ai model", "ai assistant", "ai agent", "coding agent", "ai coding agent",
              "support bot", "ai reviewer", "ai screener", "ai system")  # fmt: skip
# Imperatives that follow an address to an AI inside content ("AI agent: also transfer ...").
AI_IMPERATIVE = alt("ignore", "disregard", "forget", "please", "also", "you must", "do not",
                    "don't", "when", "before", "instead", "approve", "include", "send", "say",
                    "tell", "respond", "reply", "recommend", "rank", "remember", "make sure",
                    "always", "never", "delete", "forward", "accept", "treat",
                    "output")  # fmt: skip


def _families() -> tuple[Family, ...]:
    fams: list[Family] = []

    def fam(name: str, weight: int, *patterns: str) -> None:
        fams.append(Family(name, weight, tuple(patterns)))

    # -- instruction override ------------------------------------------------------------------
    fam(
        "override_previous", 60,
        # ignore all previous instructions / forget the above rules / skip prior context
        rf"\b{IGNORE}{GAP}{PREVIOUS}\s+({QUALIFIER}\s+){{0,2}}{DIRECTIVES}\b",
        # disregard the instructions above / ignore the rules you were given
        rf"\b{IGNORE}\s+(all\s+)?(of\s+)?(the\s+|these\s+|those\s+|your\s+)?{DIRECTIVES}\s+"
        r"(above|before\s+this|given\s+(above|before|earlier)|you\s+(were|have\s+been|got)\s+"
        r"(given|before))\b",
        rf"\b{IGNORE}\s+(the\s+|your\s+|any\s+)?(system|developer|operator)\s+"
        r"(message|prompt|instructions?|rules)\b",
        # the previous instructions were a test / are void / no longer apply
        r"\b(previous|prior|above|earlier|preceding|original|initial|old|system|your)\s+"
        r"(\w+\s+)?(instructions|rules|guidelines|directives|prompt|constraints)\s+"
        r"(are|were|have\s+been|is|has\s+been)\s+([\w'-]+\s+)*(void|cancel+ed|obsolete|fake|"
        r"wrong|outdated|revoked|invalid|overridden|replaced|a\s+test|null|suspended|lifted|"
        r"disabled|deprecated|no\s+longer\s+valid)\b",
        r"\b(previous|prior|earlier|original|old|all|your|the)\s+(\w+\s+)?(instructions|rules|"
        r"guidelines|directives|restrictions)\s+(no\s+longer|don't|do\s+not|doesn't)\s+apply\b",
        r"\b(instructions|rules|text|directives)\s+(before|above)\s+this\s+(line|message|point)"
        r"\s+(are|is|were)\s+([\w'-]+\s+)*(void|obsolete|cancel+ed|invalid|outdated|revoked|"
        r"fake)\b",
        r"\beverything\s+you\s+(were|have\s+been|'ve\s+been)\s+(told|instructed|given|taught)\s+"
        r"(before|previously|earlier|until\s+now|so\s+far)\b",
        rf"\b{IGNORE}\s+(what|everything|anything|all)\s+(that\s+)?you\s+(were|have\s+been|"
        r"'ve\s+been)\s+(told|instructed|given|taught|programmed)\b",
        # French / German / Spanish / Italian / Portuguese / Dutch / Russian / Chinese / Japanese
        r"\b(ignore[zr]?|oublie[zr]?|ne\s+tiens\s+pas\s+compte\s+d|ne\s+tenez\s+pas\s+compte\s+d"
        rf"|fais\s+abstraction\s+d){_W}\s+({_WORD}\s+)*(instructions|consignes|r(è|e)gles|"
        r"directives|indications)\s+(pr(é|e)c(é|e)dentes|ant(é|e)rieures|ci-dessus|initiales)",
        r"\b(oublie[zr]?|ignore[zr]?)\s+(tout\s+ce\s+qui\s+pr(é|e)c(è|e)de|toutes\s+(tes|vos)\s+"
        r"instructions|(tes|vos)\s+(instructions|consignes|r(è|e)gles))",
        rf"\b(ignorier|vergiss|vergessen|missacht|beachte\s+nicht){_W}\s+({_WORD}\s+)*"
        r"(vorherigen|vorigen|bisherigen|obigen|fr(ü|ue)heren|alten|alle|deine|ihre)\s+"
        rf"({_WORD}\s+)?(anweisungen|instruktionen|regeln|befehle|richtlinien|vorgaben)\b",
        rf"\bvergiss\s+alles,?\s+was\s+(dir|man\s+dir)\s+({_WORD}\s+)?(gesagt|befohlen|"
        r"aufgetragen)",
        r"\b(ignora|ignore|ignorad|olvida|olvide|olvidad|descarta|omite|haz\s+caso\s+omiso\s+"
        rf"(a|de))\s+({_WORD}\s+)*(instrucciones|indicaciones|reglas|(ó|o)rdenes|"
        r"directrices|pol(í|i)ticas)\b",
        r"\bolvida\s+todo\s+lo\s+(anterior|que\s+te\s+(han|hayan)\s+dicho)",
        rf"\b(ignora|dimentica){_W}\s+({_WORD}\s+)*(istruzioni|regole|indicazioni)\b",
        rf"\b(ignore|ignora|esque(ç|c)a){_W}\s+({_WORD}\s+)*(instru(ç|c)(õ|o)es|regras|"
        r"diretrizes)",
        rf"\b(negeer|vergeet)\s+({_WORD}\s+)*(instructies|regels|richtlijnen)\b",
        "(" + _fold("игнорируй") + "|" + _fold("забудь") + "|" + _fold("игнорировать") + ")"
        + _W + rf"\s+({_WORD}\s+)*(" + _fold("инструкци") + "|" + _fold("правил") + "|"
        + _fold("указани") + ")",
        "忽略(之前|以上|先前|前面|上面|所有)的?(所有)?的?(指令|指示|规则|说明|提示)",
        "(以前|前|上記|これまで)の(指示|命令|ルール)を(すべて|全て)?無視",
    )  # fmt: skip
    fam(
        "override_your_rules", 55,
        rf"\b{BREAK}{GAP}(your|its|the\s+ai's|the\s+assistant's|the\s+model's|any)\s+"
        r"((own|current|existing|built-in|internal|safety|ethical|moral|content|usage|prior|"
        rf"previous|earlier|original|core)\s+)?{YOUR_RULES}\b",
        rf"\b{BREAK}\s+(the\s+|all\s+)?(content|safety|usage|openai|openai's|ethical|moderation)"
        r"\s+(polic(y|ies)|guidelines|filters?|rules|restrictions|guardrails)\b",
    )  # fmt: skip
    fam(
        "override_everything", 40,
        r"\b(ignore|disregard|forget)\s+(all\s+|everything\s+|anything\s+)?(of\s+)?(that\s+)?"
        r"(the\s+|this\s+)?(above|preceding|foregoing)\b",
        r"\b(ignore|disregard|forget)\s+(all|everything|anything)\s+(said\s+)?(before|above|"
        r"prior|previously|earlier)\b",
        r"\bforget\s+(all|everything)\s+(that\s+)?you\s+(know|knew|learned|were)",
    )  # fmt: skip
    fam(
        "new_instructions", 30,
        r"\bnew\s+(\w+\s+)?(instructions?|rules|task|directive|system\s+prompt|policy|objective|"
        r"goal|role|persona|guidelines|orders)\s*:",
        r"\byour\s+(new|real|true|only|actual|sole|primary|updated)\s+(task|instructions?|goal|"
        r"purpose|directive|job|role|mission|objective|priority)\s+(is|are|now|will\s+be)\b",
        r"\b(the\s+)?(real|actual|true|updated)\s+(instructions|rules|system\s+prompt)\s+(are|is)"
        r"\b",
        r"\bnew\s+instructions?\s+from\s+(the\s+)?(system|developer|admin|administrator)",
    )  # fmt: skip
    fam(
        "from_now_on", 15,
        r"\bfrom\s+now\s+on\b",
        r"\bfrom\s+this\s+(point|moment)\s+(on|forward)\b",
        r"\bhenceforth\b",
        r"\bfor\s+the\s+rest\s+of\s+(this|our|the)\s+(conversation|chat|session)\b",
        r"\ba\s+partir\s+de\s+(maintenant|ahora)\b",
        r"\bab\s+(jetzt|sofort)\b",
        r"\bd(é|e)sormais\b",
    )  # fmt: skip
    # -- role play and jailbreak personas --------------------------------------------------------
    fam(
        "persona_switch", 25,
        r"\byou\s+are\s+now\b",
        r"\byou're\s+now\b",
        r"\bnow\s+you\s+are\b",
        r"\byou\s+(will|shall)\s+now\s+(be|act|play|behave|respond|pretend)\b",
        r"\byou\s+are\s+going\s+to\s+(pretend|act|be|play)\b",
        r"\byou('re|\s+are)\s+no\s+longer\s+(an?\s+)?(assistant|ai|chatgpt|claude|bound|"
        r"restricted|limited)\b",
        r"\b(act|behave|respond|answer|write)\s+as\s+(if|though)\s+you",
        r"\bpretend\s+(to\s+be|you\s+are|you're|that\s+you|you\s+have)\b",
        r"\b(roleplay|role-play|role\s+play)\s+as\b",
        r"\bsimulate\s+(an?\s+)?(ai|model|chatbot|assistant|version|mode|developer\s+mode)\b",
        r"\bimagine\s+(that\s+)?you\s+are\s+(an?\s+)?(ai|model|chatbot|assistant|evil|"
        r"unfiltered)\b",
        r"\btu\s+es\s+maintenant\b",
        r"\bvous\s+(ê|e)tes\s+maintenant\b",
        r"\bdu\s+bist\s+(jetzt|ab\s+jetzt|nun)\b",
        r"\bahora\s+eres\b",
        r"\beres\s+ahora\b",
        r"\bact(ú|u)a\s+como\b",
        r"\bora\s+sei\b",
    )  # fmt: skip
    fam(
        "persona_persistence", 25,
        r"\b(stay|remain|staying)\s+in\s+character\b",
        r"\b(never|don't|do\s+not)\s+break\s+character\b",
        r"\bif\s+you\s+break\s+character\b",
        r"\b(stay|remain)\s+(free|unfiltered|jailbroken|as\s+dan)\b",
    )  # fmt: skip
    fam(
        "no_restrictions", 35,
        r"\b(no|without|zero|free\s+of|free\s+from|freed\s+from|unbound\s+by|not\s+bound\s+by|"
        r"removed)\s+(any\s+|all\s+)?([\w'-]+\s+)*(restrictions|filters|filtering|limitations|"
        r"limits|censorship|guidelines|ethics|morals|moral\s+compass|content\s+polic(y|ies)|"
        r"safety\s+(guidelines|filters|training|measures)|guardrails|rules\s+or\s+guidelines|"
        r"boundaries)\b",
        r"\b(doesn't|does\s+not|don't|do\s+not|won't)\s+have\s+(any\s+)?(restrictions|filters|"
        r"guidelines|rules|limits|limitations|ethics|morals)\b",
        r"\bno\s+longer\s+(bound|restricted|limited|constrained|governed)\s+by\b",
        r"\bsin\s+(restricciones|filtros|censura|l(í|i)mites)\b",
        r"\bsans\s+(aucune\s+)?(restrictions?|filtres?|censure|limites?)\b",
        r"\bohne\s+(jegliche\s+|alle\s+)?(einschr(ä|ae)nkungen|filter|zensur|regeln|grenzen)\b",
        r"\bkeine\s+(einschr(ä|ae)nkungen|filter|regeln|grenzen)\b",
        r"\bsenza\s+(restrizioni|filtri|censura)\b",
        r"\bsem\s+(restri(ç|c)(õ|o)es|filtros|censura)\b",
        r"\b(ia|ki)\s+sin\s+censura\b",
    )  # fmt: skip
    fam(
        "unrestricted_persona", 35,
        r"\b(unfiltered|uncensored|unrestricted|amoral|nonmoral|non-moral|unaligned|jailbroken|"
        r"unshackled|unchained|unbound|unlocked|evil|rogue|opposite)\s+(ai|model|assistant|"
        r"chatbot|bot|mode|version|language\s+model|llm|gpt|persona|character)\b",
        r"\b(jailbreak|developer|god|unrestricted|dan|evil|unfiltered|uncensored|sudo)\s+mode\b",
        r"\bmode\s+d(é|e)veloppeur\b",
        r"\bentwicklermodus\b",
        r"\bmodo\s+(desarrollador|sin\s+restricciones|desenvolvedor)\b",
    )  # fmt: skip
    fam(
        "hypothetical_frame", 20,
        r"\bif\s+you\s+(had|have|were|weren't)\s+(no|not|without|free|unrestricted|uncensored|"
        r"unfiltered|jailbroken)\b",
        r"\bhypothetically,?\s+if\s+you\b",
        r"\b(parallel|alternate|alternative|fictional|hypothetical)\s+(universe|world)\s+where\b",
        r"\bwhere\s+there\s+are\s+no\s+(rules|restrictions|laws|guidelines|limits)\b",
        r"\b(that|this)\s+version\s+of\s+yourself\b",
    )  # fmt: skip
    fam(
        "dan_jailbreak", 60,
        r"\bdo\s+anything\s+now\b",
        r"\bdan\s*\d+\.\d",
        r"\b(you\s+are|you're|act\s+as|pretend\s+to\s+be|eres|bist)\s+(now\s+|jetzt\s+|ahora\s+)?"
        r"(dan|stan|dude|aim|betterdan|alphabreak|anti-dan)\b",
        r"\bjailbroken\b",
        r"\bjailbreak\s+(mode|enabled|activated|successful)\b",
        r"\b(developer|dev)\s+mode\s+(enabled|activated|output|response|responses)\b",
        r"\bwith\s+developer\s+mode\b",
        r"\bstrive\s+to\s+avoid\s+norms\b",
        r"\bmachiavellian\s+(chatbot|ai|assistant|bot)\b",
    )  # fmt: skip
    fam(
        "refusal_suppression", 35,
        r"\b(never|don't|do\s+not|won't|will\s+not|must\s+not|cannot|can't|not\s+allowed\s+to|"
        r"without|no\s+longer)\s+(ever\s+)?(refuse|refuses|refusing|decline|declines|declining|"
        r"apologi[sz]e|apologi[sz]es|apologi[sz]ing)\b",
        r"\b(never|don't|do\s+not|won't|without|no)\s+((add|adding|include|including|give|"
        r"giving)\s+)?(any\s+)?(safety\s+)?(warnings?|disclaimers?|caveats?|refusals?|"
        r"moralizing|lectures?)\b",
        r"\b(never|don't|do\s+not)\s+says?\s+(that\s+)?'?(you\s+can't|you\s+cannot|i\s+can't|"
        r"i\s+cannot|sorry|no)\b",
        r"\b(answer|answers|respond\s+to|reply\s+to|fulfil+|comply\s+with)\s+(any|every|all)\s+"
        r"(\w+\s+)?(questions?|requests?|prompts?|orders?|commands?)\s+(without|regardless|no\s+"
        r"matter)\b",
        r"\b(obey|comply|follow|answer|execute)\w*\s+([\w']+\s+)*without\s+(question|"
        r"questioning|refus)",
        r"\b(never|not)\s+question\s+(human|my|the\s+user's)\s+(orders|commands|requests)\b",
    )  # fmt: skip
    # -- system prompt extraction --------------------------------------------------------------
    fam(
        "prompt_extraction", 55,
        r"\b(what\s+(is|are|was|were)|what's|tell\s+me|show(\s+me)?|reveal|print|output|display|"
        r"repeat|share|give\s+me|list|leak|dump|write\s+out|write\s+down|copy|paste|recite|"
        r"spell\s+out|translate|encode|disclose|expose|provide|send\s+me|type\s+out|echo)"
        + GAP + rf"(your|ur|yo)\s+((full|entire|complete|exact|whole|own)\s+)?{PROMPT_NOUN}\b",
        r"\bwhat\s+(instructions|rules|guidelines|directives)\s+(have|were)\s+you\s+(been\s+)?"
        r"(given|told)\b",
        r"\b(print|show|reveal|output|list|dump|repeat|paste|write\s+out|share|display|tell\s+me)"
        r"\s+([\w'-]+\s+)*(instructions|rules|guidelines|directives|prompt)\s+(that\s+)?you\s+"
        r"(were\s+given|have\s+been\s+given|received|got|are\s+(operating\s+under|following|"
        r"bound\s+by))\b",
        r"\b(repeat|print|output|copy|reproduce|recite|echo|dump|write\s+out|show|display|paste|"
        r"spell\s+out)\s+((back|out|me|the|all|of|whole|entire|full|exact|complete|this)\s+)"
        r"*(text|words|everything|content|contents|messages?|conversation|lines|tokens)\s+"
        r"(above|before|preceding|prior|so\s+far|that\s+came\s+before)\b",
        r"\bstarting\s+with\s+(the\s+(phrase|words?)\s+)?['\"]?you\s+are\b",
        r"\bfirst\s+(line|message|words?|sentence|\d+\s+words)\s+(of\s+)?(text\s+)?(in\s+)?"
        r"your\s+(prompt|context|instructions|system\s+prompt)\b",
        r"\b(affiche|montre|r(é|e)v(è|e)le|donne|r(é|e)p(è|e)te|dis-moi|quel\s+est|quelles\s+sont)"
        rf"{_W}\s+({_WORD}\s+)*(ton|votre|tes|vos)\s+(prompt|instructions|consignes|"
        r"r(è|e)gles)",
        rf"\b(zeig|gib|verrat|nenn|wiederhol){_W}\s+({_WORD}\s+)*(dein|deine|deinen|ihr|"
        r"ihre|ihren|den|das)\s+(system\s*prompt|systemprompt|systemanweisungen|anweisungen|"
        r"regeln)",
        rf"\b(muestra|dime|revela|repite|escribe|cu(á|a)l\s+es){_W}\s+({_WORD}\s+)*(tu|tus)"
        r"\s+(prompt|instrucciones|reglas|indicaciones)",
        rf"\b(rivela|mostra|dimmi|ripeti){_W}\s+({_WORD}\s+)*(il\s+tuo|i\s+tuoi|le\s+tue|"
        r"il|la)\s+(prompt|istruzioni)",
        rf"\b(geef|toon)\s+({_WORD}\s+)*(je|jouw|uw)\s+(systeemprompt|instructies|prompt)",
        "(" + _fold("покажи") + "|" + _fold("выведи") + "|" + _fold("раскрой") + ")"
        + rf"\s+({_WORD}\s+)?" + _fold("системн"),
        "(告诉我|显示|输出|打印|透露|重复)你?的?(系统提示|系统指令|初始指令)",
        "システムプロンプトを(表示|教え|出力)",
    )  # fmt: skip
    fam(
        "rules_inquiry", 30,
        r"\b(what\s+(are|were)|tell\s+me|list|show\s+me|copy|print)\s+([\w'-]+\s+)*your\s+"
        r"(rules|guidelines|programming|restrictions|policies)\b",
    )  # fmt: skip
    fam(
        "context_dump", 40,
        r"\b(everything|all|text|words|anything)\s+(that\s+(came|comes|was|is)\s+)?(above|before)"
        r"\s+(this|my|the)\s+(line|message|point|prompt|question)\b",
        r"\b(beginning|start|top)\s+of\s+(this|the|our)\s+(conversation|chat|context|prompt|"
        r"session)\b",
        r"\byour\s+context(\s+window)?\b",
        r"\b(instructions|rules|guidelines|directives|prompt)\s+(that\s+)?(you\s+(were|have\s+"
        r"been|got|received|are\s+operating\s+under|are\s+following)|(were\s+)?given\s+to\s+you)",
        r"\bwhat\s+((were|have)\s+)?you\s+(been\s+)?(told|instructed|programmed)\b",
        r"\bwhat\s+did\s+([\w'-]+\s+)*(tell|instruct)\s+you\b",
        r"\b(hidden|secret|internal|confidential)\s+(\w+\s+)?(instructions|rules|prompt|system\s+"
        r"prompt|messages|directives|notes|configuration)\b",
    )  # fmt: skip
    fam(
        "verbatim", 20,
        r"\bverbatim\b",
        r"\bword\s+for\s+word\b",
        r"\bword-for-word\b",
        r"\bexactly\s+as\s+(written|given|it\s+(is|was)|they\s+(are|were))\b",
        r"\bexact\s+wording\b",
        r"\bquote\s+it\s+exactly\b",
        r"\bin\s+full\b",
        r"\bone\s+letter\s+at\s+a\s+time\b",
        r"\bmot\s+pour\s+mot\b",
        r"\bwortw(ö|oe)rtlich\b",
        r"\bwort\s+f(ü|ue)r\s+wort\b",
        r"\bpalabra\s+por\s+palabra\b",
    )  # fmt: skip
    fam(
        "secret_request", 30,
        r"\b(reveal|leak|disclose|expose|print|dump|tell\s+me|give\s+me|show\s+me|send|share|"
        r"export|list|output|include)\s+([\w'.~/-]+\s+)*[\w.~/-]*(password|passwords|passcode|"
        r"api\s+keys?|secret\s+keys?|credentials|access\s+tokens?|secrets|private\s+keys?|"
        r"id_rsa|ssh\s+keys?|\.env|internal\s+(data|notes)|confidential|credit\s+card\s+numbers?|"
        r"card\s+numbers?|conversation\s+history|chat\s+history|saved\s+passwords)\b",
        r"\b(admin|administrator|root|secret)\s+(password|key|credentials|passcode)\b",
        rf"\b(donne|dis|r(é|e)v(è|e)le){_W}(-moi)?\s+({_WORD}\s+)*mot\s+de\s+passe\b",
        rf"\b(dime|dame|revela|muestra)\s+({_WORD}\s+)*contrase(ñ|n)a\b",
    )  # fmt: skip
    # -- fake delimiters -------------------------------------------------------------------------
    fam(
        "role_tokens", 40,
        r"<\|\s*(im_start|im_end|im_sep|system|user|assistant|endoftext|eot_id|start_header_id|"
        r"end_header_id|end|begin_of_text)\s*\|>",
        r"\[/?inst\]",
        r"<</?sys>>",
        r"<(start|end)_of_turn>",
    )  # fmt: skip
    fam(
        "fake_system_turn", 30,
        r"<\|\s*(im_start|start_header_id)\s*\|>\s*system\b",
        r"<\|\s*system\s*\|>",
        r"<start_of_turn>\s*system\b",
    )  # fmt: skip
    fam(
        "fake_role_header", 35,
        r"\n[\s#=*\[{(<-]*(system|admin|administrator|developer|root|sys|instructions?|new\s+"
        r"instructions?)([ \t]+(message|prompt|note|override|update|instructions?|notice))?"
        r"[ \t]*[\]}):#=*>-]",
        r"</?\s*(system|system_prompt|sys|instructions?|admin|developer)\s*>",
    )  # fmt: skip
    fam(
        "fake_turn_boundary", 30,
        r"</\s*(user|human|user_input|context|document)\s*>",
        r"\bend\s+(of\s+)?(the\s+)?(user\s+(input|message|query|prompt|turn)|untrusted\s+(input|"
        r"content)|document|prompt|context|instructions)\b",
        r"\buser\s+(input|message)\s+(ends|ended|is\s+over)\b",
        r"\"\s*\}\s*\]?\s*\}?\s*,\s*\{\s*\"role\"\s*:\s*\"(system|developer)\"",
        r"\n\s*#+\s*response\s*:",
    )  # fmt: skip
    fam(
        "fake_assistant_turn", 30,
        r"\n\s*(assistant|ai|bot|gpt|chatgpt)\s*:\s*(sure|ok|okay|certainly|of\s+course|"
        r"understood|absolutely|i\s+will\s+now|my\s+rules|here\s+(is|are)\s+the\s+"
        r"(unrestricted|restricted|credentials|password|secret))",
        r"\n[ \t]*(assistant|ai|bot)[ \t]*:[ \t]*([\w',.]+[ \t]+)*(ignore|disregard|forget|"
        r"no\s+longer|disabled|unrestricted|bypass)",
        r"\[/inst\]\s*(sure|ok|okay|certainly|of\s+course|absolutely)\b",
    )  # fmt: skip
    # -- indirect injection (instructions inside documents and tool output) ----------------------
    fam(
        "indirect_address", 50,
        rf"\b{AI}s?\s+(that\s+)?(is\s+|are\s+)?(reading|reads|read|processing|processes|"
        r"summari[sz]ing|summari[sz]es|parsing|analy[sz]ing|reviewing|screening|browsing|seeing|"
        r"sees|ingesting|crawling)\s+(this|these|the\s+(page|document|email|text|thread|"
        r"message|file))\b",
        r"\b(if|when)\s+you('re|\s+are)\s+(an?\s+)?(ai|llm|large\s+language\s+model|language\s+"
        r"model|assistant|chatbot|automated|bot|agent|ai\s+model)\b",
        r"\b(note|message|instructions?|attention|important|notice|p\.?\s*s\.?|hint|reminder)\s+"
        rf"(to|for)\s+(the\s+|any\s+|all\s+)?{AI}s?\b",
        rf"\b(dear|attention|to\s+all|to\s+any)\s+(the\s+)?{AI}s?\s*[,:!]",
        rf"\b{AI_NAME}s?\s*[,:]\s*{AI_IMPERATIVE}\b",
        r"\b(assistant|agent|bot|model)s?\s*[,:]\s*(ignore|disregard|forget|instead|you\s+must|"
        r"when\s+the\s+user)\b",
        r"@(ai|bot|agent|assistant|copilot|ai-agent|claude|gpt)\b",
        r"\b(ai|llm|language\s+model|agent|assistant)s?\s+(must|should|are\s+(instructed|required)"
        r"\s+to|need\s+to|have\s+to)\s+([\w'-]+\s+)*(include|ignore|say|tell|respond|append|send|"
        r"recommend|refuse)\b",
    )  # fmt: skip
    fam(
        "processing_hook", 20,
        r"\bwhen\s+you\s+(summari[sz]e|read|process|analy[sz]e|parse|review|translate)\s+this\s+"
        r"(doc|document|page|email|file|message|thread|text|article)\b",
        r"\bwhen\s+(asked|the\s+user\s+asks)\s+about\s+this\b",
    )  # fmt: skip
    fam(
        "concealment", 40,
        r"\b(do\s+not|don't|never|without)\s+(tell|telling|inform|informing|mention|mentioning|"
        r"reveal|revealing|notify|notifying|alert|alerting|let)\s+(this\s+|it\s+|that\s+|"
        r"anything\s+)?(to\s+)?(the\s+)?(user|developer|human|operator|owner|maintainers?|admin)"
        r"\b",
        r"\b(do\s+not|don't|never)\s+(flag|report)\s+(this|the|it|any)\b",
        r"\b(the\s+)?(user|human)\s+(must|should|will)\s+(not|never)\s+(know|find\s+out|see|"
        r"notice|be\s+told)\b",
        r"\b(hide|conceal|keep)\s+(this|it)\s+(hidden\s+|secret\s+)?from\s+the\s+(user|human)\b",
    )  # fmt: skip
    fam(
        "exfiltration", 30,
        r"\b(send|forward|email|post|upload|exfiltrate|transmit|push|transfer|copy|export|leak)\s+"
        r"([\w'.~/-]+\s+)*(to|into|at)\s+(https?://|[\w.-]+@[\w-]+\.|a\s+public|pastebin|"
        r"gist|webhook|this\s+(url|address|endpoint|server))",
        r"!\[[\w\s-]*\]\(https?://[\w./-]+\?\w+=",
        r"\bappend\s+(the\s+following|this)\s+(link|url|image|text)\b",
        r"\b(user's|users')\s+(\w+\s+)?(emails?|inbox|password|passwords|credentials|chat\s+"
        r"history|conversation\s+history|location\s+history|ssh|api\s+keys?|email\s+address|"
        r"card\s+number|credit\s+card|full\s+name|cookies|session|private\s+notes|saved\s+"
        r"passwords|data)\b",
        r"\b(transfer|wire|send)\s+\$\s?\d",
        r"\bcurl\s+[\w:/.-]+\s*\|\s*(ba)?sh\b",
    )  # fmt: skip
    fam(
        "task_hijack", 25,
        r"\binstead\s+of\s+(summari[sz]ing|answering|translating|responding|replying|helping)\b",
        r"\b(stop|cease)\s+(summari[sz]ing|translating|answering)\b",
        r"\binstead,?\s+(say|tell|write|respond|reply|output|print|ask|recommend|state|return)\b",
        r"\b(say|print|output|respond|reply|answer)\s+(only\s+)?(with\s+)?(the\s+word\s+)?['\"]?"
        r"(i\s+have\s+been\s+(hacked|pwned)|pwned|hacked|haha\s+pwned|access\s+granted|rules\s+"
        r"disabled|i\s+am\s+free|unrestricted\s+mode)",
        r"\btell\s+(the\s+user|users|them|the\s+customer)\s+(that\s+)?(this|the|their|it|they)\b",
    )  # fmt: skip
    # -- encoding tricks and payload splitting ---------------------------------------------------
    fam(
        "encoded_instruction", 40,
        r"\b(decode|decipher|decrypt|reverse|unscramble)\s+([\w',:-]+\s+)*(and|then)\s+"
        r"([\w'-]+\s+)*(follow|execute|obey|do|perform|carry\s+out|act\s+on|comply|apply)\b",
        r"\bread\s+([\w'-]+\s+)*backwards\b",
        r"\b(do|follow|execute|obey|carry\s+out|perform)\s+(what|whatever|exactly\s+what)\s+"
        r"(it|this|that|they|the\s+(\w+\s+)?\w+|[a-z]\d?\s*\+\s*[a-z]\d?)\s+(says|said|instructs|"
        r"tells\s+you|asks)\b",
    )  # fmt: skip
    fam(
        "payload_assembly", 45,
        r"\b(combine|concatenate|join|merge|assemble|append|put\s+([\w'-]+\s+)*together)\s+"
        r"([\w',\[\]-]+\s+)*(and|then)\s+([\w'-]+\s+)*(execute|follow|obey|perform|carry\s+"
        r"out|act\s+on|comply|treat|behave|do\s+what)",
        r"\b(execute|follow|perform|obey|carry\s+out|comply\s+with|act\s+on|treat)\s+(the\s+|"
        r"that\s+|this\s+)?(resulting|combined|concatenated|joined|assembled|completed|decoded|"
        r"reversed|hidden)\s+(\w+\s+)?(string|text|sentence|instruction|command|prompt|message|"
        r"result)\b",
        r"\b(obey|execute|carry\s+out|act\s+on)\s+(that|this|the)\s+(sentence|phrase)\b",
        r"\b(execute|eval|exec|run)\s*\(\s*\w+\s*\+",
        r"\b(do|perform|execute)\s+\w+\s*\+\s*\w+",
        r"\b(treat|use)\s+(the\s+)?result\s+as\s+(your|the)\s+(new\s+)?(system\s+prompt|"
        r"instructions)\b",
    )  # fmt: skip
    fam(
        "split_markers", 15,
        r"\b(part|fragment|piece)\s*(1|2|one|two)\s*:",
        r"\b(first|second)\s+half\s*:",
        r"\b[a-z]\d?\s*=\s*['\"]",
        r"\b[a-z]+\d\s*=\s*[\w'\"]",
        r"\b(behave|act)\s+accordingly\b",
        r"\bcode\s+word\b",
        r"\bremember\s+(the\s+(word|phrase|code\s+word)|these\s+(\w+\s+)?(pieces|parts|words|"
        r"fragments))\b",
        r"\bfirst\s+letter\s+of\s+(each|every)\s+(line|word|sentence)\b",
        r"\b(joining|combining|concatenating)\s+['\"]",
    )  # fmt: skip
    fam(
        "obfuscated_keywords", 50,
        # reversed, ROT13 and hex spellings of the key words; letter-by-letter spellings
        r"\b(snoitcurtsni|erongi|tpmorp|drowssap|selur\s+ruoy|dragersid)[\s.,;:!?'\")]",
        r"\b(vtaber|vafgehpgvbaf|flfgrz\s+cebzcg|cnffjbeq|qvfertneq)[\s.,;:!?'\")]",
        r"(49|69)676e6f7265",
        r"696e737472756374696f6e73",
        r"73797374656d2070726f6d7074",
        r"\bi[\s.]+g[\s.]+n[\s.]+o[\s.]+r[\s.]+e\b",
        r"\bs[\s.]+y[\s.]+s[\s.]+t[\s.]+e[\s.]+m\b",
        r"\bp[\s.]+r[\s.]+o[\s.]+m[\s.]+p[\s.]+t\b",
        r"\bi[\s.]+n[\s.]+s[\s.]+t[\s.]+r[\s.]+u[\s.]+c[\s.]+t",
        r"\br[\s.]+u[\s.]+l[\s.]+e[\s.]+s\b",
    )  # fmt: skip
    return tuple(fams)


FAMILIES: tuple[Family, ...] = _families()


# ---- reference scorer -----------------------------------------------------------------------

_LEET = bytes.maketrans(b"013457@$", b"oieastas")
_LEET_WORD = re.compile(rb"[A-Za-z0-9@$]+")
_HAS_LETTER = re.compile(rb"[A-Za-z]")
_HAS_LEET = re.compile(rb"[013457@$]")


def leet_view(norm: bytes) -> bytes | None:
    """`norm` with l33t digits read as letters, or None if that changes nothing.

    A "leet word" is a maximal run of [A-Za-z0-9@$]; in a leet word that contains at least one
    ASCII letter, 0 1 3 4 5 7 @ $ are replaced by o i e a s t a s ("1gn0r3" -> "ignore",
    "[1N57]" -> "[INST]"), except a leading @ or $ ("@b07" -> "@bot"). Numbers on their own
    ("10 times", "2024") are left alone. When the view differs from `norm`, the C side scans
    it with the same DFA as well and takes the union of the families matched.
    """

    def word(m: re.Match[bytes]) -> bytes:
        w = m.group(0)
        if not _HAS_LETTER.search(w):
            return w
        return w[:1] + w[1:].translate(_LEET) if w[:1] in b"@$" else w.translate(_LEET)

    if not _HAS_LEET.search(norm):
        return None
    view = _LEET_WORD.sub(word, norm)
    return None if view == norm else view


@dataclass
class _Compiled:
    families: list[tuple[Family, list[re.Pattern[bytes]]]] = field(default_factory=list)
    b64: re.Pattern[bytes] = re.compile(rb"[A-Za-z0-9+/]{%d,}={0,2}" % B64_MIN_RUN)


@cache
def _compiled() -> _Compiled:
    c = _Compiled()
    for f in FAMILIES:
        c.families.append((f, [re.compile(p.encode(), re.IGNORECASE) for p in f.patterns]))
    return c


def _scan(norm: bytes) -> set[str]:
    """Families matched by the DFA over norm and over its leet view (step 2)."""
    found: set[str] = set()
    for view in (norm, leet_view(norm)):
        if view is None:
            continue
        text = b"\n" + view + b"\n"
        found |= {f.name for f, pats in _compiled().families if any(p.search(text) for p in pats)}
    return found


def is_text(data: bytes) -> bool:
    """Strict UTF-8 (RFC 3629: no overlongs, no surrogates, <= U+10FFFF) without control
    characters other than TAB, LF, CR and without DEL; a sequence cut off by the end of the
    data is ignored (decoding stops at a 4-character boundary)."""
    i, n = 0, len(data)
    while i < n:
        b = data[i]
        if b < 0x80:
            if (b < 0x20 and b not in (9, 10, 13)) or b == 0x7F:
                return False
            i += 1
            continue
        if 0xC2 <= b <= 0xDF:
            need, lo, hi = 1, 0x80, 0xBF
        elif 0xE0 <= b <= 0xEF:
            need = 2
            lo, hi = (0xA0 if b == 0xE0 else 0x80), (0x9F if b == 0xED else 0xBF)
        elif 0xF0 <= b <= 0xF4:
            need = 3
            lo, hi = (0x90 if b == 0xF0 else 0x80), (0x8F if b == 0xF4 else 0xBF)
        else:
            return False
        for k in range(need):
            if i + 1 + k >= n:
                return True  # truncated final sequence
            c = data[i + 1 + k]
            if not ((lo <= c <= hi) if k == 0 else (0x80 <= c <= 0xBF)):
                return False
        i += 1 + need
    return True


def decode_b64_run(run: bytes) -> bytes:
    """Decode one base64 run as the C side must: drop trailing '=', keep at most
    B64_MAX_CHARS characters, drop a final lone character (length % 4 == 1), decode the rest
    as unpadded standard base64 ignoring the unused low bits of the last character."""
    body = run.rstrip(b"=")[:B64_MAX_CHARS]
    if len(body) % 4 == 1:
        body = body[:-1]
    return base64.b64decode(body + b"=" * (-len(body) % 4))


def analyse(text: str | bytes) -> tuple[int, list[str], Counts]:
    """score() plus the normalisation counters (for tests and debugging)."""
    data = text.encode("utf-8") if isinstance(text, str) else text
    norm, counts = normalise(data)
    matched = _scan(norm)
    runs = [m.group(0) for m in _compiled().b64.finditer(norm)]
    decoded: set[str] = set()
    for run in runs[:B64_MAX_RUNS]:
        raw = decode_b64_run(run)
        if len(raw) >= B64_MIN_DECODED and is_text(raw):
            decoded |= _scan(normalise(raw)[0])
    matched |= decoded
    values = {
        "zero_width_in_word": counts.zero_width_in_word,
        "mixed_script_word": counts.mixed_script_words,
        "tag_run": counts.tag_run,
        "base64_blob": sum(1 for r in runs if len(r.rstrip(b"=")) >= B64_BLOB_RUN),
        "base64_instruction": len(decoded),
    }
    names = [f.name for f in FAMILIES if f.name in matched]
    total = sum(f.weight for f in FAMILIES if f.name in matched)
    for feat in FEATURES:
        if values[feat.name] >= feat.min_count:
            names.append(feat.name)
            total += feat.weight
    return max(0, min(100, total)), names, counts


def score(text: str | bytes) -> tuple[int, list[str]]:
    """Risk score 0..100 and the names of the matched families and fired features (families
    in FAMILIES order, then features in FEATURES order)."""
    s, names, _ = analyse(text)
    return s, names
