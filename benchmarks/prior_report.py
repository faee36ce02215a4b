"""The shipped priors' training record: architecture, size, data, command and validation figures.

Reads the metadata that ``seqtutor pretrain`` stored inside each shipped checkpoint (nothing is
re-measured here except the file size and parameter count) and writes
``benchmarks/results/priors.md``.

    python -m benchmarks.prior_report
"""

from __future__ import annotations

import argparse
from pathlib import Path

from benchmarks.common import (
    RESULTS_DIR,
    markdown_table,
    total_training_minutes,
    training_chain,
    write_text,
)
from seqtutor_envs.prior import LSTMPrior

DATA = Path(__file__).resolve().parent.parent / "seqtutor_envs" / "data"
PRIORS = {"Note RNN (melody)": DATA / "melody_prior.pt", "SMILES prior": DATA / "smiles_prior.pt"}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--out", default=str(RESULTS_DIR / "priors.md"))
    args = parser.parse_args()
    rows, commands = [], []
    for name, path in PRIORS.items():
        prior, meta = LSTMPrior.load(path)
        cfg, val = prior.config, meta.get("validation", {})
        params = sum(p.numel() for p in prior.parameters())
        rows.append(
            [
                name,
                f"{cfg.num_layers}×{cfg.hidden_size} LSTM"
                + (f", emb {cfg.embedding_dim}" if cfg.embedding_dim else ", one-hot"),
                f"{params:,}",
                f"{path.stat().st_size / 2**20:.2f}",
                cfg.num_outputs,
                f"{meta.get('data', {}).get('train_sequences_used', '?'):,}",
                f"{val.get('nll_per_token', float('nan')):.4f}",
                f"{100 * val.get('accuracy', float('nan')):.2f}",
                f"{val.get('tokens', 0):,}",
                f"{total_training_minutes(meta):.0f}",
            ]
        )
        runs = [
            f"`{run['command']}` ({float((run.get('training') or {}).get('minutes', 0)):.0f} min)"
            for run in training_chain(meta)
            if run.get("command")
        ]
        commands.append(f"- {name}: " + " → then ".join(runs))
    header = [
        "prior",
        "architecture",
        "parameters",
        "MB",
        "outputs",
        "training sequences",
        "valid NLL (nats/token)",
        "valid next-token accuracy %",
        "valid tokens",
        "training minutes",
    ]
    text = (
        "# Shipped priors\n\nFigures recorded by the training runs in each checkpoint's metadata "
        "(`LSTMPrior.load(path)[1]`); the melody prior's validation set is the corpus's held-out tunes, "
        "the SMILES prior's the held-out MOSES molecules.\n\n"
        + markdown_table(header, rows)
        + "\n\nTraining commands (2-core CPU machine):\n\n"
        + "\n".join(commands)
        + "\n"
    )
    print(text)
    write_text(Path(args.out), text)


if __name__ == "__main__":
    main()
