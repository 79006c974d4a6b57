"""A seeded synthetic catalogue whose latent topics show in every modality.

Each item has one latent topic. The topic shapes its text (topic vocabulary plus noise words),
its image (a hue and a shape per topic, with jitter and pixel noise) and who interacts with it
(users prefer a few topics, drift from one preference to another over time, and pick popular
items more often). Tests use the hidden ``label`` column to check cluster quality.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import numpy as np
import polars as pl
from PIL import Image, ImageDraw

from esans.config import SyntheticParams

TOPIC_WORDS: list[list[str]] = [
    ["galaxy", "rocket", "astronaut", "orbit", "planet", "nebula", "comet", "telescope"],
    ["recipe", "kitchen", "chef", "bake", "flavour", "spice", "dinner", "oven"],
    ["football", "goal", "stadium", "striker", "league", "coach", "match", "referee"],
    ["jazz", "saxophone", "trumpet", "swing", "improvise", "club", "blues", "rhythm"],
    ["detective", "murder", "clue", "suspect", "alibi", "crime", "inspector", "evidence"],
    ["dragon", "wizard", "castle", "spell", "quest", "kingdom", "sword", "sorcery"],
    ["ocean", "whale", "coral", "reef", "sailor", "tide", "island", "shipwreck"],
    ["robot", "android", "circuit", "machine", "algorithm", "laser", "cyborg", "future"],
    ["romance", "wedding", "love", "heart", "kiss", "bride", "letter", "passion"],
    ["war", "soldier", "battle", "army", "tank", "general", "trench", "rifle"],
    ["garden", "flower", "seed", "tulip", "soil", "greenhouse", "blossom", "orchard"],
    ["horror", "ghost", "haunted", "zombie", "scream", "vampire", "curse", "midnight"],
    ["finance", "stock", "banker", "market", "investor", "money", "fraud", "merger"],
    ["mountain", "climber", "summit", "glacier", "avalanche", "rope", "peak", "expedition"],
    ["school", "teacher", "student", "exam", "classroom", "homework", "campus", "lesson"],
    ["cowboy", "ranch", "saloon", "sheriff", "desert", "horse", "outlaw", "frontier"],
    ["painting", "artist", "canvas", "museum", "sculpture", "gallery", "portrait", "brush"],
    ["medicine", "doctor", "hospital", "surgeon", "nurse", "patient", "virus", "cure"],
    ["car", "racing", "engine", "driver", "speed", "track", "garage", "motor"],
    ["politics", "election", "senator", "campaign", "vote", "president", "scandal", "debate"],
    ["dinosaur", "fossil", "jungle", "volcano", "prehistoric", "bones", "raptor", "swamp"],
    ["pirate", "treasure", "captain", "parrot", "cannon", "voyage", "map", "mutiny"],
    ["music", "band", "guitar", "concert", "singer", "drummer", "tour", "album"],
    ["winter", "snow", "ice", "skate", "frost", "blizzard", "sled", "cabin"],
    ["spy", "agent", "secret", "mission", "gadget", "embassy", "traitor", "code"],
    ["farm", "tractor", "harvest", "barn", "cattle", "wheat", "farmer", "village"],
    ["superhero", "villain", "cape", "powers", "rescue", "city", "mask", "hero"],
    ["prison", "escape", "guard", "cell", "inmate", "warden", "tunnel", "sentence"],
    ["dance", "ballet", "stage", "dancer", "tango", "studio", "choreography", "audition"],
    ["computer", "hacker", "network", "password", "software", "server", "virus", "data"],
]

NOISE_WORDS = ("the a of about with story tale life time day night new old great little "
               "young long journey world family friend home city year people group").split()
ADJECTIVES = "gripping quiet bold gentle strange funny dark bright epic tender wild".split()
SHAPES = ("circle", "square", "triangle", "cross", "stripes")


@dataclass(frozen=True)
class SyntheticData:
    items: pl.DataFrame
    interactions: pl.DataFrame
    images: dict[str, Image.Image]


def _topic_rgb(topic: int, n_topics: int) -> tuple[int, int, int]:
    import colorsys

    hue = (topic * 0.61803398875) % 1.0  # golden-ratio spacing keeps hues apart
    r, g, b = colorsys.hsv_to_rgb(hue, 0.85, 0.9)
    return int(r * 255), int(g * 255), int(b * 255)


def render_image(topic: int, n_topics: int, size: int, rng: np.random.Generator) -> Image.Image:
    """A small RGB picture: background tint and a shape both tied to the topic, plus noise."""
    fg = np.array(_topic_rgb(topic, n_topics), dtype=np.float64)
    bg = 255 - 0.6 * (255 - np.array(_topic_rgb((topic * 7 + 3) % n_topics, n_topics), float))
    img = Image.new("RGB", (size, size), tuple(int(c) for c in bg))
    draw = ImageDraw.Draw(img)
    shape = SHAPES[topic % len(SHAPES)]
    c = size / 2 + rng.normal(0, size * 0.08, 2)
    r = size * rng.uniform(0.22, 0.34)
    box = [c[0] - r, c[1] - r, c[0] + r, c[1] + r]
    colour = tuple(int(v) for v in np.clip(fg + rng.normal(0, 12, 3), 0, 255))
    if shape == "circle":
        draw.ellipse(box, fill=colour)
    elif shape == "square":
        draw.rectangle(box, fill=colour)
    elif shape == "triangle":
        draw.polygon([(c[0], c[1] - r), (c[0] - r, c[1] + r), (c[0] + r, c[1] + r)], fill=colour)
    elif shape == "cross":
        w = r / 3
        draw.rectangle([c[0] - w, c[1] - r, c[0] + w, c[1] + r], fill=colour)
        draw.rectangle([c[0] - r, c[1] - w, c[0] + r, c[1] + w], fill=colour)
    else:
        step = max(2, int(size / 8))
        for x in range(0, size, 2 * step):
            draw.rectangle([x, 0, x + step - 1, size], fill=colour)
    arr = np.asarray(img, dtype=np.float64) + rng.normal(0, 10, (size, size, 3))
    return Image.fromarray(np.clip(arr, 0, 255).astype(np.uint8))


def _item_text(topic: int, rng: np.random.Generator, noise: float) -> tuple[str, str]:
    vocab = TOPIC_WORDS[topic % len(TOPIC_WORDS)]
    n_words = int(rng.integers(6, 11))
    words = []
    for _ in range(n_words):
        if rng.random() < noise:
            other = TOPIC_WORDS[int(rng.integers(len(TOPIC_WORDS)))]
            words.append(str(rng.choice(other + NOISE_WORDS)))
        else:
            words.append(str(rng.choice(vocab)))
    title = " ".join(w.capitalize() for w in rng.choice(vocab, 2, replace=False))
    text = f"A {rng.choice(ADJECTIVES)} story of {', '.join(words[:-1])} and {words[-1]}."
    return title, text


def generate(p: SyntheticParams, seed: int) -> SyntheticData:
    """Generate items (with images) and interactions. Same params + seed -> same data."""
    rng = np.random.default_rng(seed)
    n_t = p.n_topics
    topics = rng.integers(0, n_t, p.n_items)
    # Popularity: a Zipf-like weight per item, independent of topic.
    pop = 1.0 / np.arange(1, p.n_items + 1) ** p.popularity_alpha
    pop = pop[rng.permutation(p.n_items)]

    item_ids = [f"i{j:06d}" for j in range(p.n_items)]
    titles, texts, images = [], [], {}
    for j in range(p.n_items):
        title, text = _item_text(int(topics[j]), rng, p.text_noise)
        titles.append(f"{title} {j}")
        texts.append(text)
        images[item_ids[j]] = render_image(int(topics[j]), n_t, p.image_size, rng)
    items = pl.DataFrame({
        "item_id": item_ids, "title": titles, "text": texts,
        "image_path": [f"images/{i}.png" for i in item_ids],
        "label": [f"topic{t:02d}" for t in topics],
    })

    # Users: concentrated topic preferences at the start and the end of their history.
    members = [np.flatnonzero(topics == t) for t in range(n_t)]
    weights = [pop[m] / pop[m].sum() if len(m) else m for m in members]
    per_user = rng.lognormal(0, 0.8, p.n_users)
    per_user = np.maximum(5, np.round(per_user / per_user.sum() * p.n_events)).astype(int)
    per_user = np.minimum(per_user, p.n_items // 2)
    start = 1_600_000_000
    rows_u, rows_i, rows_t = [], [], []
    for u in range(p.n_users):
        p0 = rng.dirichlet(np.full(n_t, 0.15))
        p1 = rng.dirichlet(np.full(n_t, 0.15))
        n = int(per_user[u])
        ts = np.sort(rng.integers(start, start + 365 * 86400, n))
        seen: set[int] = set()
        for k in range(n):
            frac = k / max(1, n - 1)
            pref = (1 - p.drift * frac) * p0 + p.drift * frac * p1
            for _ in range(20):  # redraw a few times if the item was already seen
                t = int(rng.choice(n_t, p=pref))
                if len(members[t]) == 0:
                    continue
                j = int(rng.choice(members[t], p=weights[t]))
                if j not in seen:
                    break
            else:
                continue
            seen.add(j)
            rows_u.append(f"u{u:05d}")
            rows_i.append(item_ids[j])
            rows_t.append(int(ts[k]))
    interactions = pl.DataFrame({
        "user_id": rows_u, "item_id": rows_i, "timestamp": rows_t,
        "rating": [None] * len(rows_u),
    }, schema_overrides={"rating": pl.Float64, "timestamp": pl.Int64})
    return SyntheticData(items=items, interactions=interactions, images=images)


def write_images(images: dict[str, Image.Image], folder: Path) -> None:
    folder.mkdir(parents=True, exist_ok=True)
    for item_id, img in images.items():
        img.save(folder / f"{item_id}.png", format="PNG")
