"""A small image→title caption model over precomputed image vectors.

Input is a 512-d image vector (the app's CAM-VGG16 features, as numpy); the decoder is a GRU
over a word vocabulary built from catalogue titles. It is deliberately tiny so that it trains
in well under a minute on a CPU for ~1,000 pairs. Also home to a self-contained corpus BLEU.

torch is imported lazily (inside functions / the model factory) so importing this module is cheap.
"""

from __future__ import annotations

import math
import re
import time
from collections import Counter
from collections.abc import Callable, Sequence
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

import numpy as np

from ml.modelfiles import CAPTIONER, check_version, content_version, load_head, save_head

__all__ = [
    "BOS",
    "EOS",
    "PAD",
    "UNK",
    "Captioner",
    "CaptionerConfig",
    "Vocab",
    "corpus_bleu",
    "detokenize",
    "tokenize",
    "train_captioner",
]

PAD, UNK, BOS, EOS = "<pad>", "<unk>", "<bos>", "<eos>"
_SPECIALS = (PAD, UNK, BOS, EOS)
_TOKEN_RE = re.compile(r"\w+(?:['’]\w+)*|[^\w\s]", re.UNICODE)


# --------------------------------------------------------------------------------------
# Tokens and vocabulary
# --------------------------------------------------------------------------------------
def tokenize(text: str) -> list[str]:
    """Lower-case word/punctuation tokens ("Portrait (detail)" -> ["portrait", "(", "detail", ")"])."""
    return _TOKEN_RE.findall((text or "").lower())


def detokenize(tokens: Sequence[str]) -> str:
    """Join tokens back into a readable title, capitalising the first letter."""
    text = " ".join(t for t in tokens if t not in _SPECIALS)
    text = re.sub(r"\s+([,.:;!?)])", r"\1", text)
    text = re.sub(r"([(])\s+", r"\1", text)
    text = re.sub(r"\s*(['’])\s*", r"\1", text)
    return text[:1].upper() + text[1:]


@dataclass
class Vocab:
    """Word vocabulary with the four special tokens at fixed ids 0..3."""

    itos: list[str]

    def __post_init__(self) -> None:
        self.stoi = {w: i for i, w in enumerate(self.itos)}

    @classmethod
    def build(cls, token_lists: Sequence[Sequence[str]], min_count: int = 2) -> Vocab:
        """Keep words seen at least ``min_count`` times; the rest map to <unk>."""
        counts = Counter(t for toks in token_lists for t in toks)
        words = sorted((w for w, c in counts.items() if c >= min_count), key=lambda w: (-counts[w], w))
        return cls(list(_SPECIALS) + [w for w in words if w not in _SPECIALS])

    def __len__(self) -> int:
        return len(self.itos)

    def encode(self, tokens: Sequence[str]) -> list[int]:
        unk = self.stoi[UNK]
        return [self.stoi.get(t, unk) for t in tokens]

    def decode(self, ids: Sequence[int]) -> list[str]:
        out = []
        for i in ids:
            w = self.itos[int(i)]
            if w == EOS:
                break
            if w not in (PAD, BOS):
                out.append(w)
        return out


# --------------------------------------------------------------------------------------
# BLEU (corpus level, Papineni et al. 2002, with Chen & Cherry 2014 smoothing)
# --------------------------------------------------------------------------------------
def _ngrams(tokens: Sequence[str], n: int) -> Counter:
    return Counter(tuple(tokens[i : i + n]) for i in range(len(tokens) - n + 1))


def corpus_bleu(
    references: Sequence[Sequence[Sequence[str]]],
    hypotheses: Sequence[Sequence[str]],
    max_n: int = 4,
    smoothing: str = "epsilon",
    epsilon: float = 0.1,
) -> dict[str, float]:
    """Corpus BLEU-1..max_n (cumulative, uniform weights) for tokenised hypotheses.

    ``references[i]`` is a list of reference token lists for ``hypotheses[i]``.
    Counts are clipped per sentence and summed over the corpus before dividing; the brevity
    penalty uses the closest reference length. Smoothing for zero n-gram matches:
    "epsilon" (Chen & Cherry method 1: ``epsilon / total``), "add1" (add one to the numerator
    and denominator for n > 1, Lin & Och 2004) or "none".
    """
    if len(references) != len(hypotheses):
        raise ValueError("references and hypotheses differ in length")
    if smoothing not in {"epsilon", "add1", "none"}:
        raise ValueError(f"unknown smoothing {smoothing!r}")
    matches = [0] * max_n
    totals = [0] * max_n
    hyp_len = ref_len = 0
    for refs, hyp in zip(references, hypotheses, strict=True):
        hyp = list(hyp)
        hyp_len += len(hyp)
        if refs:
            # Closest reference length, ties to the shorter one (as in the reference script).
            ref_len += min((abs(len(r) - len(hyp)), len(r)) for r in refs)[1]
        for n in range(1, max_n + 1):
            h = _ngrams(hyp, n)
            if not h:
                continue
            max_ref: Counter = Counter()
            for r in refs:
                for g, c in _ngrams(list(r), n).items():
                    max_ref[g] = max(max_ref[g], c)
            matches[n - 1] += sum(min(c, max_ref[g]) for g, c in h.items())
            totals[n - 1] += sum(h.values())

    precisions: list[float] = []
    for n in range(max_n):
        m, t = matches[n], totals[n]
        if smoothing == "add1" and n > 0:
            m, t = m + 1, t + 1
        if t == 0:
            p = 0.0
        elif m == 0:
            p = epsilon / t if smoothing == "epsilon" else 0.0
        else:
            p = m / t
        precisions.append(p)

    if hyp_len == 0:
        bp = 0.0
    elif hyp_len >= ref_len:
        bp = 1.0
    else:
        bp = math.exp(1.0 - ref_len / hyp_len)

    scores: dict[str, float] = {}
    for n in range(1, max_n + 1):
        ps = precisions[:n]
        if min(ps) <= 0.0:
            scores[f"bleu{n}"] = 0.0
        else:
            scores[f"bleu{n}"] = bp * math.exp(sum(math.log(p) for p in ps) / n)
    return scores


# --------------------------------------------------------------------------------------
# Model
# --------------------------------------------------------------------------------------
@dataclass
class CaptionerConfig:
    """Hyper-parameters of the caption model (saved with the weights)."""

    input_dim: int = 512
    embed_dim: int = 128
    hidden_dim: int = 192
    dropout: float = 0.3
    max_len: int = 20
    min_count: int = 2


def _build_net(cfg: CaptionerConfig, vocab_size: int) -> Any:
    """Create the torch module (imports torch lazily)."""
    import torch
    from torch import nn

    class _Net(nn.Module):
        def __init__(self) -> None:
            super().__init__()
            self.img = nn.Sequential(nn.Linear(cfg.input_dim, cfg.hidden_dim), nn.Tanh())
            self.img_in = nn.Linear(cfg.input_dim, cfg.embed_dim)
            self.emb = nn.Embedding(vocab_size, cfg.embed_dim, padding_idx=0)
            self.drop = nn.Dropout(cfg.dropout)
            # The image is fed at every step as well as in h0: with ~1k pairs, a decoder that
            # only sees the image in h0 tends to drift to the language prior ("portrait of a man").
            self.gru = nn.GRU(2 * cfg.embed_dim, cfg.hidden_dim, batch_first=True)
            self.out = nn.Linear(cfg.hidden_dim, vocab_size)

        def init(self, x: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
            x = self.drop(x)
            return self.img(x).unsqueeze(0), self.img_in(x)

        def step(self, tokens: torch.Tensor, h: torch.Tensor, ctx: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
            """tokens (B, T) -> logits (B, T, V)."""
            e = self.drop(self.emb(tokens))
            c = ctx.unsqueeze(1).expand(-1, e.shape[1], -1)
            o, h = self.gru(torch.cat([e, c], dim=-1), h)
            return self.out(self.drop(o)), h

        def forward(self, x: torch.Tensor, tokens: torch.Tensor) -> torch.Tensor:
            h, ctx = self.init(x)
            logits, _ = self.step(tokens, h, ctx)
            return logits

    return _Net()


class Captioner:
    """Trained caption model: ``generate(vectors) -> list[str]``; ``save`` / ``load``."""

    def __init__(self, net: Any, vocab: Vocab, cfg: CaptionerConfig, mean: np.ndarray, std: np.ndarray) -> None:
        self.net = net.eval()
        self.vocab = vocab
        self.config = cfg
        self.mean = np.asarray(mean, dtype=np.float32)
        self.std = np.asarray(std, dtype=np.float32)
        self.version = content_version(self.net.state_dict(), self._meta_key())

    def _meta_key(self) -> str:
        return repr((asdict(self.config), self.vocab.itos, self.mean.tobytes(), self.std.tobytes()))

    def _prep(self, vectors: np.ndarray) -> Any:
        import torch

        x = np.asarray(vectors, dtype=np.float32)
        if x.ndim == 1:
            x = x[None, :]
        if x.shape[1] != self.config.input_dim:
            raise ValueError(f"expected {self.config.input_dim}-d vectors, got {x.shape[1]}")
        return torch.from_numpy((x - self.mean) / self.std)

    def generate(self, vectors: np.ndarray, beam_size: int = 1, max_len: int | None = None) -> list[str]:
        """Caption each image vector; ``beam_size=1`` is greedy decoding."""
        return [detokenize(t) for t in self.generate_tokens(vectors, beam_size=beam_size, max_len=max_len)]

    def generate_tokens(self, vectors: np.ndarray, beam_size: int = 1, max_len: int | None = None) -> list[list[str]]:
        """Like generate, but returns token lists (for BLEU)."""
        import torch

        max_len = max_len or self.config.max_len
        x = self._prep(vectors)
        if x.shape[0] == 0:
            return []
        self.net.eval()
        with torch.inference_mode():
            if beam_size <= 1:
                ids = self._greedy(x, max_len)
            else:
                ids = [self._beam(x[i : i + 1], beam_size, max_len) for i in range(x.shape[0])]
        return [self.vocab.decode(seq) for seq in ids]

    def _greedy(self, x: Any, max_len: int) -> list[list[int]]:
        import torch

        bos, eos, unk = (self.vocab.stoi[t] for t in (BOS, EOS, UNK))
        h, ctx = self.net.init(x)
        tok = torch.full((x.shape[0], 1), bos, dtype=torch.long)
        out = torch.zeros((x.shape[0], 0), dtype=torch.long)
        done = torch.zeros(x.shape[0], dtype=torch.bool)
        for _ in range(max_len):
            logits, h = self.net.step(tok, h, ctx)
            logits = logits[:, -1]
            logits[:, unk] = -math.inf  # never print "<unk>" in a user-facing caption
            nxt = logits.argmax(-1)
            nxt = torch.where(done, torch.full_like(nxt, eos), nxt)
            out = torch.cat([out, nxt[:, None]], dim=1)
            done |= nxt == eos
            if bool(done.all()):
                break
            tok = nxt[:, None]
        return out.tolist()

    def _beam(self, x: Any, beam_size: int, max_len: int) -> list[int]:
        import torch

        bos, eos, unk = (self.vocab.stoi[t] for t in (BOS, EOS, UNK))
        h, ctx = self.net.init(x)
        beams: list[tuple[float, list[int], Any]] = [(0.0, [], h)]
        finished: list[tuple[float, list[int]]] = []
        for _ in range(max_len):
            cand: list[tuple[float, list[int], Any]] = []
            for score, seq, hb in beams:
                tok = torch.tensor([[seq[-1] if seq else bos]], dtype=torch.long)
                logits, h2 = self.net.step(tok, hb, ctx)
                logp = torch.log_softmax(logits[0, -1], dim=-1)
                logp[unk] = -math.inf
                top = torch.topk(logp, beam_size)
                for lp, idx in zip(top.values.tolist(), top.indices.tolist(), strict=True):
                    cand.append((score + lp, [*seq, idx], h2))
            cand.sort(key=lambda c: c[0], reverse=True)
            beams = []
            for score, seq, hb in cand:
                if seq[-1] == eos:
                    # Length-normalised so that beam search does not favour very short titles.
                    finished.append((score / len(seq), seq))
                else:
                    beams.append((score, seq, hb))
                if len(beams) == beam_size:
                    break
            if not beams or len(finished) >= beam_size:
                break
        finished.extend((s / max(len(q), 1), q) for s, q, _ in beams)
        return max(finished, key=lambda f: f[0])[1]

    # ---- persistence ------------------------------------------------------------------
    def save(self, path: str | Path) -> None:
        """Save weights, vocabulary, config and normalisation atomically (ml.modelfiles)."""
        import torch

        payload = {
            "config": asdict(self.config),
            "vocab": list(self.vocab.itos),
            "mean": torch.from_numpy(self.mean),
            "std": torch.from_numpy(self.std),
            "state_dict": self.net.state_dict(),
        }
        save_head(CAPTIONER, path, payload, version=self.version)

    @classmethod
    def load(cls, path: str | Path) -> Captioner:
        """Load a model written by save; ml.modelfiles.ModelFileError for a bad file."""
        payload = load_head(CAPTIONER, path)
        cfg = CaptionerConfig(**payload["config"])
        vocab = Vocab(list(payload["vocab"]))
        net = _build_net(cfg, len(vocab))
        net.load_state_dict(payload["state_dict"])
        model = cls(net, vocab, cfg, payload["mean"].numpy(), payload["std"].numpy())
        check_version(CAPTIONER, path, payload, model.version)
        return model


# --------------------------------------------------------------------------------------
# Training
# --------------------------------------------------------------------------------------
def _split(n: int, val_fraction: float, seed: int) -> tuple[np.ndarray, np.ndarray]:
    idx = np.random.default_rng(seed).permutation(n)
    n_val = round(n * val_fraction) if val_fraction > 0 else 0
    n_val = min(n_val, n - 1) if n > 1 else 0
    return np.sort(idx[n_val:]), np.sort(idx[:n_val])


def train_captioner(
    vectors: np.ndarray,
    titles: list[str],
    *,
    epochs: int = 30,
    seed: int = 0,
    val_fraction: float = 0.1,
    config: CaptionerConfig | None = None,
    batch_size: int = 128,
    lr: float = 5e-3,
    beam_size: int = 1,
    time_budget_s: float | None = None,
    num_threads: int | None = 1,
    on_epoch: Callable[[], None] | None = None,
) -> tuple[Captioner, dict[str, Any]]:
    """Train on (image vector, title) pairs; return the model and a report.

    The report holds sizes, losses, timing and corpus BLEU-1..4 of the generated titles on a
    held-out split (``val_fraction``), next to a baseline that always outputs the most common
    training title — a caption model is only useful if it beats that.
    ``num_threads`` caps torch's intra-op threads during training (restored afterwards): for a
    model this small extra threads only add synchronisation, and on a busy CPU they made a toy
    run 6x slower. ``None`` leaves torch's setting alone.
    """
    from ml.backbone import torch_threads

    with torch_threads(num_threads):
        return _train_captioner(
            vectors,
            titles,
            epochs=epochs,
            seed=seed,
            val_fraction=val_fraction,
            config=config,
            batch_size=batch_size,
            lr=lr,
            beam_size=beam_size,
            time_budget_s=time_budget_s,
            on_epoch=on_epoch,
        )


def _train_captioner(
    vectors: np.ndarray,
    titles: list[str],
    *,
    epochs: int,
    seed: int,
    val_fraction: float,
    config: CaptionerConfig | None,
    batch_size: int,
    lr: float,
    beam_size: int,
    time_budget_s: float | None,
    on_epoch: Callable[[], None] | None,
) -> tuple[Captioner, dict[str, Any]]:
    import torch
    from torch import nn

    x_all = np.asarray(vectors, dtype=np.float32)
    if x_all.ndim != 2 or len(x_all) != len(titles):
        raise ValueError("vectors must be (N, D) with one title per row")
    if len(titles) < 2:
        raise ValueError("need at least two pairs")
    cfg = config or CaptionerConfig(input_dim=x_all.shape[1])
    cfg.input_dim = x_all.shape[1]
    t0 = time.perf_counter()
    torch.manual_seed(seed)
    tr, va = _split(len(titles), val_fraction, seed)

    toks = [tokenize(t)[: cfg.max_len - 1] for t in titles]
    vocab = Vocab.build([toks[i] for i in tr], min_count=cfg.min_count)
    mean = x_all[tr].mean(0)
    std = x_all[tr].std(0) + 1e-6  # per-feature scaling: CAM features are non-negative, skewed

    bos, eos = vocab.stoi[BOS], vocab.stoi[EOS]
    seqs = [[bos, *vocab.encode(t), eos] for t in toks]
    width = max(len(s) for s in seqs)
    arr = np.zeros((len(seqs), width), dtype=np.int64)
    for i, s in enumerate(seqs):
        arr[i, : len(s)] = s
    x_t = torch.from_numpy((x_all - mean) / std)
    y_t = torch.from_numpy(arr)

    net = _build_net(cfg, len(vocab))
    opt = torch.optim.AdamW(net.parameters(), lr=lr, weight_decay=1e-4)
    sched = torch.optim.lr_scheduler.CosineAnnealingLR(opt, T_max=max(epochs, 1))
    loss_fn = nn.CrossEntropyLoss(ignore_index=0, label_smoothing=0.05)
    gen = torch.Generator().manual_seed(seed)
    tr_t = torch.from_numpy(tr)

    lengths = torch.from_numpy((arr != 0).sum(1))

    def batch_loss(ids: Any) -> Any:
        # Trim padding to the longest title in the batch: most titles are ~5 tokens but the
        # longest run to 20, and the GRU's cost is per padded step.
        y = y_t[ids][:, : int(lengths[ids].max())]
        logits = net(x_t[ids], y[:, :-1])
        return loss_fn(logits.reshape(-1, logits.shape[-1]), y[:, 1:].reshape(-1))

    history: list[float] = []
    epochs_run = 0
    for _ in range(epochs):
        net.train()
        perm = tr_t[torch.randperm(len(tr_t), generator=gen)]
        total, count = 0.0, 0
        for start in range(0, len(perm), batch_size):
            ids = perm[start : start + batch_size]
            loss = batch_loss(ids)
            opt.zero_grad()
            loss.backward()
            nn.utils.clip_grad_norm_(net.parameters(), 5.0)
            opt.step()
            total += loss.item() * len(ids)
            count += len(ids)
        sched.step()
        history.append(total / max(count, 1))
        epochs_run += 1
        if on_epoch is not None:  # progress for the caller (a command's bar)
            on_epoch()
        if time_budget_s is not None and time.perf_counter() - t0 > time_budget_s:
            break

    model = Captioner(net.eval(), vocab, cfg, mean, std)
    report: dict[str, Any] = {
        "n_train": len(tr),
        "n_val": len(va),
        "vocab_size": len(vocab),
        "epochs": epochs_run,
        "train_loss": history[-1] if history else None,
        "loss_history": history,
        "version": model.version,
    }
    if len(va):
        with torch.inference_mode():
            report["val_loss"] = float(batch_loss(torch.from_numpy(va)))
        refs = [[tokenize(titles[i])] for i in va]
        hyps = model.generate_tokens(x_all[va], beam_size=beam_size)
        report["bleu"] = corpus_bleu(refs, hyps)
        common = Counter(titles[i] for i in tr).most_common(1)[0][0]
        report["baseline_title"] = common
        report["baseline_bleu"] = corpus_bleu(refs, [tokenize(common)] * len(va))
        report["examples"] = [
            {"reference": titles[i], "generated": detokenize(h)} for i, h in zip(va[:5], hyps[:5], strict=False)
        ]
    report["seconds"] = round(time.perf_counter() - t0, 2)
    return model, report
