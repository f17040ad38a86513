"""The filler words, grouped by part of speech, that the filler grammar draws from and the vocabulary includes.

They stand in for "regular prompts": plain text whose LM loss we can measure next to the recall tasks. The lists are
fixed (their order decides token ids), and no word here may collide with a task word or a structured token.
"""
from __future__ import annotations

DETERMINERS: tuple[str, ...] = (
    "the", "a", "this", "that", "every", "each", "some", "no", "one", "my", "your", "our",
)

ADJECTIVES: tuple[str, ...] = (
    "old", "young", "small", "large", "quiet", "loud", "bright", "dark", "warm", "cold",
    "quick", "slow", "red", "blue", "green", "yellow", "white", "black", "soft", "hard",
    "happy", "sad", "calm", "busy", "empty", "full", "tall", "short", "heavy", "light",
    "clean", "dirty", "early", "late", "gentle", "brave", "clever", "proud", "tired", "hungry",
    "wild", "tame", "rich", "poor", "sweet", "bitter", "fresh", "stale", "round", "flat",
    "narrow", "wide", "distant", "nearby", "strange", "famous", "simple", "careful", "silent", "golden",
)

NOUNS: tuple[str, ...] = (
    "dog", "cat", "bird", "horse", "fish", "mouse", "fox", "wolf", "bear", "owl",
    "child", "farmer", "teacher", "doctor", "baker", "sailor", "painter", "singer", "king", "queen",
    "river", "mountain", "forest", "field", "garden", "village", "city", "road", "bridge", "tower",
    "house", "door", "window", "table", "chair", "lamp", "book", "letter", "song", "story",
    "apple", "bread", "cheese", "soup", "cake", "tea", "milk", "honey", "salt", "rice",
    "boat", "train", "cart", "wheel", "rope", "stone", "tree", "flower", "leaf", "seed",
    "sun", "moon", "star", "cloud", "rain", "snow", "wind", "storm", "sky", "sea",
    "market", "school", "church", "castle", "farm", "shop", "kitchen", "library", "station", "harbor",
    "hat", "coat", "shoe", "ring", "key", "box", "bag", "cup", "plate", "bell",
    "friend", "neighbor", "stranger", "guest", "brother", "sister", "mother", "father", "uncle", "aunt",
    "morning", "evening", "night", "winter", "summer", "spring", "autumn", "week", "year", "hour",
    "map", "coin", "candle", "mirror", "clock", "basket", "blanket", "pencil", "ladder", "drum",
)

VERBS: tuple[str, ...] = (
    "sees", "finds", "likes", "takes", "brings", "carries", "watches", "follows", "helps", "meets",
    "paints", "builds", "opens", "closes", "cleans", "fixes", "holds", "pushes", "pulls", "throws",
    "catches", "reads", "writes", "sings", "hears", "calls", "visits", "leaves", "loves", "hides",
    "chooses", "keeps", "sells", "buys", "cooks", "eats", "drinks", "wants", "needs", "remembers",
    "forgets", "greets", "chases", "feeds", "draws", "shows", "sends", "lifts", "drops", "wakes",
)

ADVERBS: tuple[str, ...] = (
    "slowly", "quickly", "quietly", "loudly", "gladly", "often", "rarely", "always", "never", "sometimes",
    "today", "soon", "again", "together", "alone", "carefully", "gently", "happily", "sadly", "calmly",
)

PREPOSITIONS: tuple[str, ...] = (
    "in", "on", "under", "over", "near", "behind", "beside", "across", "through", "into",
    "from", "with", "without", "before", "after", "around", "toward", "along",
)

CONJUNCTIONS: tuple[str, ...] = ("and", "but", "so", "while", "because", "then")

FILLER_WORDS: tuple[str, ...] = (
    DETERMINERS + ADJECTIVES + NOUNS + VERBS + ADVERBS + PREPOSITIONS + CONJUNCTIONS
)
"""Every filler word, in vocabulary order."""
