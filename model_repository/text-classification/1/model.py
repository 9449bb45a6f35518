"""Lexicon-based sentiment of English and Chinese text: "positive", "negative" or "neutral".

How a text is scored (see :func:`classify`):

1. The text is split into clauses at punctuation; negation and intensifiers never cross a clause.
2. Phrases are matched first, longest first, and masked so their words do not count twice
   ("nothing special", "not bad", "没什么特别", "不错", "睡着").
3. English words are tokens; Chinese has no spaces, so Chinese entries are matched as substrings.
4. A sentiment word weighs +-1 (or +-2 when strong). An intensifier just before it ("very", "absolutely",
   "非常", "很", "绝对") multiplies by 1.5. A negator up to three words (English) or three characters
   (Chinese) before it ("not", "never", "n't", "不", "没") flips a positive word to half its weight,
   negative ("not good" -> -0.5), and turns a negative word into a hedge ("not bad", "不算糟糕":
   not praise, just "fine").
5. Hedges ("okay", "so-so", "nothing special", "还可以", "一般") weigh 0 and pull towards neutral.
6. score >= 0.5 -> positive, score <= -0.5 -> negative, otherwise neutral; with a hedge in the text the
   bar is 2.0 (a lukewarm review with one mild word stays neutral).

Deterministic, numpy only. Batches: all requests' rows are classified in one pass and split back.
"""

from __future__ import annotations

import re

import numpy as np

try:  # Only the Triton stub provides this module; tests import this file without it.
    import triton_python_backend_utils as pb_utils
except ImportError:  # pragma: no cover - outside Triton
    pb_utils = None

POSITIVE, NEGATIVE, NEUTRAL = "positive", "negative", "neutral"
HEDGE = 0.0  # a weight of exactly 0 in the lexicons marks a hedge

# -- English -------------------------------------------------------------------------------------------

EN_WORDS: dict[str, float] = {
    # positive
    **dict.fromkeys(
        "good nice great fun funny enjoy enjoyed enjoyable like liked likes love loved loves lovely "
        "best better beautiful charming clever entertaining engaging fresh gripping happy impressive "
        "interesting moving pleasant recommend recommended solid smart sweet touching worth "
        "worthwhile wow cool delightful heartwarming thrilling satisfying strong refreshing".split(),
        1.0,
    ),
    **dict.fromkeys(
        "amazing awesome brilliant excellent fantastic wonderful masterpiece outstanding perfect "
        "stunning spectacular phenomenal incredible magnificent marvelous marvellous breathtaking "
        "exceptional flawless superb".split(),
        2.0,
    ),
    # negative
    **dict.fromkeys(
        "bad boring bored dull poor weak slow silly stupid annoying confusing disappointed "
        "predictable mediocre mess messy pointless tedious sad unfunny forgettable overrated "
        "overlong flat hate hated hates dislike disliked waste wasted problem problems lame cheesy "
        "asleep sleep sleepy yawn shallow clumsy ugly wrong fail failed fails flawed".split(),
        -1.0,
    ),
    **dict.fromkeys(
        "awful terrible horrible dreadful disappointing disaster worst garbage trash rubbish "
        "unwatchable atrocious abysmal painful disgusting pathetic horrendous".split(),
        -2.0,
    ),
    # hedges
    **dict.fromkeys("okay ok alright fine average decent meh so-so passable fair".split(), HEDGE),
}

EN_PHRASES: dict[str, float] = {
    "nothing special": HEDGE,
    "not bad": HEDGE,
    "not terrible": HEDGE,
    "not great": -0.5,
    "so so": HEDGE,
    "could be better": HEDGE,
    "could have been better": HEDGE,
    "fell asleep": -1.0,
    "fall asleep": -1.0,
    "falling asleep": -1.0,
    "waste of time": -2.0,
    "waste of money": -2.0,
    "must see": 2.0,
    "must-see": 2.0,
    "highly recommend": 2.0,
    "highly recommended": 2.0,
    "well done": 1.0,
    "well made": 1.0,
    "top notch": 2.0,
    "let down": -1.0,
    "not worth": -1.0,
}

EN_INTENSIFIERS = frozenset(
    "very really so too extremely absolutely truly totally incredibly highly super utterly most "
    "completely thoroughly deeply".split()
)
EN_NEGATORS = frozenset(
    "not no never nothing nobody none neither nor hardly barely without cannot cant dont doesnt "
    "didnt isnt wasnt arent werent wont wouldnt shouldnt couldnt aint havent hasnt hadnt".split()
)

# -- Chinese -------------------------------------------------------------------------------------------

ZH_WORDS: dict[str, float] = {
    **dict.fromkeys(
        "好 好看 喜欢 不错 有趣 感人 推荐 值得 满意 开心 愉快 过瘾 好笑 优秀 出色 漂亮 美 享受 "
        "温馨 动人 吸引 生动 真实 流畅 惊喜 满分 赞".split(),
        1.0,
    ),
    **dict.fromkeys(
        "精彩 棒 太棒 完美 杰作 经典 震撼 绝妙 一流 惊艳 神作 超赞 无与伦比".split(),
        2.0,
    ),
    **dict.fromkeys(
        "差 无聊 难看 失败 俗套 拖沓 乏味 沉闷 睡着 犯困 困 尴尬 生硬 混乱 老套 浪费 后悔 不好 "
        "不行 不满 不喜欢 不值 烂 差劲 平庸 无趣 狗血 做作 弱 讨厌 失望".split(),
        -1.0,
    ),
    **dict.fromkeys("糟糕 垃圾 烂片 太差 最差 极差 恶心 难以忍受 浪费时间 灾难".split(), -2.0),
    # hedges
    **dict.fromkeys("还可以 还行 一般 一般般 凑合 马马虎虎 中规中矩 还好 普通 没什么特别 平平".split(), HEDGE),
}

ZH_INTENSIFIERS = ("非常", "特别", "十分", "极其", "绝对", "真的", "实在", "相当", "超级", "很", "太", "超", "真", "极", "最")
ZH_NEGATORS = ("不", "没", "无", "未", "别", "莫", "勿")

# Chinese entries as one alternation, longest first so "不喜欢" wins over "喜欢" and "太棒" over "棒".
_ZH_PATTERN = re.compile("|".join(sorted(map(re.escape, ZH_WORDS), key=len, reverse=True)))
_EN_PHRASE_PATTERN = re.compile(
    r"(?<![a-z])(?:" + "|".join(sorted(map(re.escape, EN_PHRASES), key=len, reverse=True)) + r")(?![a-z])"
)
_CLAUSES = re.compile(r"[.,!?;:()\[\]\"\n\r\t，。！？；：、（）【】“”…~～]+")
_EN_TOKEN = re.compile(r"[a-z]+(?:['\u2019-][a-z]+)*")


def _en_score(clause: str) -> tuple[float, int]:
    """Score the English words of one clause; returns (score, hedges)."""
    score, hedges = 0.0, 0
    # A negated phrase ("not a waste of time") is rare enough to ignore: phrases count as they stand.
    for match in _EN_PHRASE_PATTERN.finditer(clause):
        weight = EN_PHRASES[match.group()]
        if weight == HEDGE:
            hedges += 1
        score += weight
    clause = _EN_PHRASE_PATTERN.sub(" | ", clause)
    tokens = [t.replace("'", "").replace("’", "") for t in _EN_TOKEN.findall(clause)]
    for i, token in enumerate(tokens):
        weight = EN_WORDS.get(token)
        if weight is None:
            continue
        if weight == HEDGE:
            hedges += 1
            continue
        before = tokens[max(0, i - 3) : i]
        if before and before[-1] in EN_INTENSIFIERS:
            weight *= 1.5
        if any(t in EN_NEGATORS for t in before):
            if weight > 0:
                weight = -0.5 * weight
            else:
                hedges += 1
                weight = 0.0
        score += weight
    return score, hedges


def _zh_score(clause: str) -> tuple[float, int]:
    """Score the Chinese entries of one clause (substring matches); returns (score, hedges)."""
    score, hedges = 0.0, 0
    last_end = 0
    for match in _ZH_PATTERN.finditer(clause):
        weight = ZH_WORDS[match.group()]
        # Only look back into text no earlier entry consumed.
        window = clause[max(last_end, match.start() - 3) : match.start()]
        last_end = match.end()
        if weight == HEDGE:
            hedges += 1
            continue
        if any(window.endswith(w) for w in ZH_INTENSIFIERS):
            weight *= 1.5
        if any(n in window for n in ZH_NEGATORS):
            if weight > 0:
                weight = -0.5 * weight
            else:
                hedges += 1
                weight = 0.0
        score += weight
    return score, hedges


def score(text: str) -> tuple[float, int]:
    """Return (sentiment score, number of hedges) of a text."""
    total, hedges = 0.0, 0
    for clause in _CLAUSES.split(text.lower()):
        if not clause.strip():
            continue
        for part in (_en_score(clause), _zh_score(clause)):
            total += part[0]
            hedges += part[1]
    return total, hedges


def classify(text: str) -> str:
    """Return "positive", "negative" or "neutral" for one text."""
    value, hedges = score(text)
    bar = 2.0 if hedges else 0.5
    if value >= bar:
        return POSITIVE
    if value <= -bar:
        return NEGATIVE
    return NEUTRAL


def _as_text(value: object) -> str:
    if isinstance(value, bytes):
        return value.decode("utf-8", errors="replace")
    return str(value)


_LABELS = {label: label.encode() for label in (POSITIVE, NEGATIVE, NEUTRAL)}


def classify_array(texts: np.ndarray) -> np.ndarray:
    """Classify an array of texts (bytes or str) of any shape; returns an object array of bytes labels."""
    flat = texts.reshape(-1)
    labels = np.empty(flat.shape, dtype=object)
    for i, value in enumerate(flat):
        labels[i] = _LABELS[classify(_as_text(value))]
    return labels.reshape(texts.shape)


class TritonPythonModel:
    """INPUT_TEXT [batch, 1] BYTES -> OUTPUT_TEXT [batch, 1] BYTES."""

    def execute(self, requests):
        arrays = [pb_utils.get_input_tensor_by_name(r, "INPUT_TEXT").as_numpy() for r in requests]
        labels = classify_array(np.concatenate(arrays, axis=0))
        bounds = np.cumsum([len(a) for a in arrays])[:-1]
        return [
            pb_utils.InferenceResponse([pb_utils.Tensor("OUTPUT_TEXT", part)])
            for part in np.split(labels, bounds)
        ]
