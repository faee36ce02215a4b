"""How big a SMILES prior can be trained in about an hour here: training speed per architecture.

Times forward + backward + Adam steps of candidate LSTM priors on batches shaped like MOSES
(BOS + ~35 tokens + END) and converts them into molecules per hour and weights size. Writes
``benchmarks/results/smiles_prior_sizing.md``.

    python -m benchmarks.smiles_prior_sizing
"""

from __future__ import annotations

import argparse
import time

import torch
import torch.nn.functional as F

from benchmarks.common import RESULTS_DIR, markdown_table, write_results
from seqtutor_envs.prior import LSTMPrior, PriorConfig

VOCAB = 24  # MOSES: END + 23 SMILES tokens
CANDIDATES = {
    "paper 1x100 one-hot": {"hidden_size": 100, "num_layers": 1, "embedding_dim": None},
    "1x512 emb64": {"hidden_size": 512, "num_layers": 1, "embedding_dim": 64},
    "2x256 emb64": {"hidden_size": 256, "num_layers": 2, "embedding_dim": 64},
    "3x256 emb64": {"hidden_size": 256, "num_layers": 3, "embedding_dim": 64},
    "2x384 emb64": {"hidden_size": 384, "num_layers": 2, "embedding_dim": 64},
}
MOLECULE_TOKENS = 37.4  # mean MOSES sequence incl. BOS and END


def time_training(arch: dict, batch: int, length: int, steps: int) -> tuple[float, int]:
    torch.manual_seed(0)
    prior = LSTMPrior(PriorConfig(num_outputs=VOCAB, num_inputs=VOCAB + 1, **arch))
    opt = torch.optim.Adam(prior.parameters(), lr=1e-3)
    x = torch.randint(0, VOCAB + 1, (batch, length))
    y = torch.randint(0, VOCAB, (batch, length))

    def one() -> None:
        logits, _ = prior(x)
        loss = F.cross_entropy(logits.reshape(-1, VOCAB), y.reshape(-1))
        opt.zero_grad()
        loss.backward()
        torch.nn.utils.clip_grad_norm_(prior.parameters(), 5.0)
        opt.step()

    for _ in range(3):
        one()
    start = time.perf_counter()
    for _ in range(steps):
        one()
    elapsed = time.perf_counter() - start
    return batch * length * steps / elapsed, sum(p.numel() for p in prior.parameters())


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--batch", type=int, default=128)
    parser.add_argument("--steps", type=int, default=15)
    args = parser.parse_args()
    rows = []
    for name, arch in CANDIDATES.items():
        tokens_per_s, params = time_training(arch, args.batch, 37, args.steps)
        molecules_per_hour = tokens_per_s * 3600 / MOLECULE_TOKENS
        rows.append(
            [
                name,
                f"{params:,}",
                f"{params * 4 / 2**20:.1f} MB",
                f"{tokens_per_s:,.0f}",
                f"{molecules_per_hour / 1e6:.2f}M",
            ]
        )
        print(" | ".join(rows[-1]), flush=True)
    table = markdown_table(
        ["architecture", "parameters", "float32 weights", "training tokens/s", "molecules per hour (MOSES-length)"],
        rows,
    )
    text = write_results(
        RESULTS_DIR / "smiles_prior_sizing.md",
        "SMILES prior sizing: MLE training speed per architecture",
        f"{table}\n\nBatch {args.batch} sequences of 37 tokens; forward, backward, gradient clipping and an Adam "
        f"step, timed over {args.steps} steps after 3 warm-up steps.\n",
    )
    print(text)


if __name__ == "__main__":
    main()
