"""``seqtutor report RUN [RUN ...] --out report.html``: one self-contained page to look at runs and listen to them.

Per run: its settings (``config.toml``), training curves (domain reward, exact KL, c or β, loss) from
its logs, the statistics of fresh samples beside the prior's, the prior's training corpus and π*
(the objective's optimum at the run's final c, :mod:`seqtutor_envs.optimum`, where the domain's π*
is cheap enough), and the samples themselves: for melodies piano rolls with an audio player each
and the MIDI files to download; for molecules grids of the best and of random molecules and a
sortable table of every molecule with a CSV download. Several runs get a comparison table first.

Everything is embedded (images, audio, MIDI and CSV as ``data:`` URIs; no script or style from the
network), so the file can be mailed or archived. The page is rendered by Jinja2 from
``templates/report.html.j2``; plots are matplotlib PNGs.
"""

from __future__ import annotations

import base64
import csv
import dataclasses
import io
import math
import tempfile
from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np

from seqtutor_envs.domains import get_domain

from .csv_cells import csv_text
from .safe_paths import MAX_LOG_BYTES, RunFileError, read_run_text, run_files

#: Training-log panels: (progress.csv key, label); the first of each alternative present is drawn.
CURVES = (
    (("rollout/domain_reward",), "domain reward per step"),
    (("rollout/kl_prior",), "KL(π ‖ prior) per step (nats)"),
    (("train/c", "train/beta"), "KL weight (c, or KL-PPO's β)"),
    (("train/loss", "train/policy_loss", "train/value_loss"), "training loss"),
)


def data_uri(content: bytes, mime: str) -> str:
    return f"data:{mime};base64,{base64.b64encode(content).decode('ascii')}"


def read_progress(run: Path, notes: list[str] | None = None) -> dict[str, np.ndarray]:
    """The columns of a run's ``progress.csv`` files (resumed parts appended in order).

    Only regular files inside the run are read (:mod:`~seqtutor_agents.runs.safe_paths`); a cell that
    is not a number is drawn as a gap, and ``notes`` gets a line saying how many there were.
    """
    rows: list[dict[str, str]] = []
    for path in run_files(run, "logs", "progress.csv"):
        text = read_run_text(run, path, MAX_LOG_BYTES)
        try:
            rows.extend(csv.DictReader(io.StringIO(text, newline="")))
        except csv.Error as exc:
            raise RunFileError(f"{path} is not a readable CSV log ({exc})") from None
    keys = {k for row in rows for k in row if isinstance(k, str)}
    bad = [0]

    def number(text: Any) -> float:
        if text in (None, ""):
            return np.nan
        try:
            return float(text)
        except (TypeError, ValueError):
            bad[0] += 1
            return np.nan

    columns = {k: np.array([number(r.get(k)) for r in rows]) for k in keys}
    if bad[0] and notes is not None:
        notes.append(f"{bad[0]:,} cells of the training log are not numbers; the curves show gaps there.")
    return columns


def curves_png(progress: dict[str, np.ndarray], title: str) -> bytes | None:
    """The training curves as one PNG (None when the log is empty)."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    steps = progress.get("time/total_timesteps")
    panels = [
        (next(k for k in keys if k in progress), label) for keys, label in CURVES if any(k in progress for k in keys)
    ]
    if steps is None or not panels:
        return None
    fig, axes = plt.subplots(1, len(panels), figsize=(4.2 * len(panels), 3.2), squeeze=False)
    for ax, (key, label) in zip(axes[0], panels, strict=True):
        values = progress[key]
        ok = ~np.isnan(values) & ~np.isnan(steps)
        ax.plot(steps[ok], values[ok], color="tab:blue", lw=1.2)
        ax.set_xlabel("env steps")
        ax.set_title(f"{label}\n({key})", fontsize=9)
        ax.grid(alpha=0.3)
        ax.ticklabel_format(axis="x", style="sci", scilimits=(3, 3))
    fig.suptitle(title, fontsize=10)
    fig.tight_layout()
    stream = io.BytesIO()
    fig.savefig(stream, format="png", dpi=90)
    plt.close(fig)
    return stream.getvalue()


def _fmt(value: Any) -> str:
    if value is None or (isinstance(value, float) and not math.isfinite(value)):
        return "–"
    if isinstance(value, (bool, np.bool_)):
        return "yes" if value else "no"
    if isinstance(value, (int, np.integer)):
        return f"{int(value):,}"
    if isinstance(value, (float, np.floating)):
        return f"{value:.4g}"
    return str(value)


def statistics_table(columns: dict[str, dict[str, Any]], first_keys: tuple[str, ...]) -> dict[str, Any]:
    """``{"header": [...], "rows": [[figure, v1, v2, ...]]}`` with the domain's key figures first."""
    keys = list(dict.fromkeys([*first_keys, *(k for c in columns.values() for k in c)]))
    rows = [
        [key, *(_fmt(c.get(key)) for c in columns.values())]
        for key in keys
        if any(isinstance(c.get(key), (int, float, np.integer, np.floating)) for c in columns.values())
    ]
    return {"header": ["figure", *columns], "rows": rows}


@dataclasses.dataclass
class RunSection:
    """What the template shows of one run."""

    name: str
    path: str
    env_id: str
    algo: str
    config_toml: str
    headline: dict[str, str]
    curves: str | None
    statistics: dict[str, Any]
    players: list[dict[str, str]]
    images: list[dict[str, str]]
    table: dict[str, Any] | None
    table_csv: str | None
    notes: list[str]
    stages: list[dict[str, Any]] = dataclasses.field(default_factory=list)  # a staged scoring file's switches


def run_section(
    run: Path, n: int, seed: int, media: int, optimum_n: int | None, on_batch: Callable[[int], None] | None = None
) -> RunSection:
    """Sample a run's model (and its prior) and gather what its section shows.

    :param on_batch: called with the model's episodes done after each batch (a job's time bound).
    """
    from .evaluation import episodes_of, prior_training_data
    from .optimum_figures import DISTANCE_HEADLINE
    from .training import CONFIG_TOML, load_run

    model, config = load_run(run)
    notes = [f"{n:,} samples each of the tuned model and of the prior (seed {seed})."]
    # The run's own files first: one outside the run, not a regular file or too large is refused before sampling.
    config_toml, progress = read_run_text(run, CONFIG_TOML, missing_ok=True), read_progress(run, notes)
    env_id, env_kwargs = config.env_id, config.resolved_env_kwargs()
    domain = get_domain(env_id)
    label = f"{config.algo} ({run.name})"
    tuned = episodes_of(model, env_id, n, seed, env_kwargs, progress=False, on_batch=on_batch)
    prior = episodes_of(None, env_id, n, seed, env_kwargs, progress=False)
    reference = prior_training_data(env_id, env_kwargs)
    extra = {"reference": reference} if reference is not None else {}
    columns: dict[str, dict[str, Any]] = {}
    for name, batch in ((label, tuned), ("prior", prior)):
        columns[name] = {
            "domain objective (mean)": float(batch.domain_returns.mean()),
            "KL(π ‖ prior) per step": batch.kl_per_step,
            "log p_prior per step": batch.prior_log_prob_per_step,
            **domain.statistics(batch.finals, **extra),
        }
    if reference is not None:
        notes.append(f"Compared with the prior's training data: {reference}.")
    final_c = float(getattr(model, "current_c", None) or env_kwargs.get("c") or model.get_env().get_attr("c")[0])
    samples_n = domain.report_optimum_samples if optimum_n is None else optimum_n
    ratio, distance_headline = None, dict.fromkeys(DISTANCE_HEADLINE, "–")
    if samples_n:
        ratio, distance_headline = _optimum_column(
            columns, notes, env_id, env_kwargs, tuned, final_c, samples_n, n, seed
        )
    statistics = statistics_table(columns, ("domain objective (mean)", "KL(π ‖ prior) per step", *domain.metric_keys))
    players, images, table, table_csv = _media(domain, tuned, env_id, media)
    curves = curves_png(progress, f"{label}: training")
    return RunSection(
        name=run.name,
        path=str(run),
        env_id=env_id,
        algo=config.algo,
        config_toml=config_toml if config_toml is not None else "(no config.toml: a run from an older version)",
        headline={
            "learner": config.algo,
            "env": env_id,
            "steps": f"{model.num_timesteps:,}",
            "final c": f"{final_c:.3g}",
            "KL per step": _fmt(tuned.kl_per_step),
            "domain objective": f"{tuned.domain_returns.mean():.4g}",
            "prior's objective": f"{prior.domain_returns.mean():.4g}",
            "return / π*'s at the same KL": _fmt(ratio),
            **distance_headline,
        },
        curves=data_uri(curves, "image/png") if curves else None,
        statistics=statistics,
        players=players,
        images=images,
        table=table,
        table_csv=table_csv,
        notes=notes,
        stages=_stages(run, config, notes),
    )


def _media(domain: Any, tuned: Any, env_id: str, media: int) -> tuple[list, list, dict | None, str | None]:
    """``(players, images, table, table_csv)`` of a run's samples, as its domain shows them."""
    players, images, shown = [], [], {}
    if domain.report_media is not None:
        with tempfile.TemporaryDirectory(prefix="seqtutor-report-") as scratch:
            shown = domain.report_media(tuned.finals, tuned.domain_returns, Path(scratch), media)
        players = [
            {
                "title": p["title"],
                "image": data_uri(p["image_png"], "image/png"),
                "audio": data_uri(p["audio_wav"], "audio/wav"),
                "midi": data_uri(p["midi"], "audio/midi"),
                "midi_name": p["midi_name"],
            }
            for p in shown["players"]
        ]
        images = [{"title": i["title"], "image": data_uri(i["png"], "image/png")} for i in shown["images"]]
    table = table_csv = None
    if shown.get("table"):  # the domain asks for a table of every sample (molecules: sorted, downloaded)
        rows = tuned.rows(env_id)
        header = list(dict.fromkeys(k for row in rows for k in row))
        table = {"header": header, "rows": [[_cell(row.get(k)) for k in header] for row in rows]}
        table_csv = data_uri(csv_text(rows, header).encode(), "text/csv")  # formula-like cells escaped
    return players, images, table, table_csv


def _stages(run: Path, config: Any, notes: list[str]) -> list[dict[str, Any]]:
    """A staged scoring run's stage records (its samples come from the stage it reached, noted)."""
    from .scoring_run import read_stage_log

    records = read_stage_log(run) if config.scoring is not None else []
    if records:
        notes.append(
            f"Scored with the run's copy of {config.scoring}, in stage {records[-1]['stage']}, the stage the "
            "run reached."
        )
    return records


def _optimum_column(
    columns: dict[str, dict[str, Any]],
    notes: list[str],
    env_id: str,
    env_kwargs: dict[str, Any],
    tuned: Any,
    final_c: float,
    samples_n: int,
    n: int,
    seed: int,
) -> tuple[float | None, dict[str, str]]:
    """Add π*'s column at the run's final c (and its notes); returns the run's optimality ratio and its distance
    to π* (the headline cells of :func:`~seqtutor_agents.runs.optimum_figures.distance_figures`)."""
    from seqtutor_envs.optimum import optimum_at, sample_prior

    from .optimum_figures import distance_figures

    prior_weight = float(env_kwargs.get("prior_weight", 1.0))
    sample = sample_prior(env_id, samples_n, 0, {k: v for k, v in env_kwargs.items() if k != "c"}, progress=False)
    point = optimum_at(sample, final_c, prior_weight, resample=min(n, 2_000), seed=seed)
    columns[f"π* at c = {final_c:.3g}"] = {
        "domain objective (mean)": point.domain_return,
        "KL(π ‖ prior) per step": point.kl_per_step,
        "effective sample size": point.ess,
        **point.statistics,
    }
    notes.append(
        f"π* ∝ p·exp(R/c) at the run's final c, by importance sampling over {samples_n:,} prior samples "
        f"(ESS {point.ess:,.0f}{'' if point.reliable else ', under 1,000: unreliable'}); its statistics "
        "are of sequences resampled from it."
    )
    ratio = optimality_ratio(sample, prior_weight, tuned, final_c)
    if ratio is None:
        notes.append(
            "No optimality ratio: the run's KL lies outside π*'s reliable range (ESS >= 1,000) for this "
            "many prior samples, or π*'s return there is not positive."
        )
    _, distance_headline, distance_note = distance_figures(tuned, sample, final_c, prior_weight, seed)
    notes.append(distance_note)
    return ratio, distance_headline


def optimality_ratio(sample: Any, prior_weight: float, batch: Any, c: float) -> float | None:
    """The batch's domain return over π*'s at the batch's KL (interpolated on reliable points), as the frontier's.

    π*'s curve is drawn over c from 30 times to a 30th of the run's c.
    """
    from seqtutor_envs.optimum import interpolate, optimum_at

    if batch.kl_per_step is None:
        return None
    points = [optimum_at(sample, float(x), prior_weight, statistics=False) for x in np.geomspace(30 * c, c / 30, 40)]
    best = interpolate(points, "kl_per_step", "domain_return", batch.kl_per_step)
    return float(batch.domain_returns.mean()) / best if best > 0 else None


def _cell(value: Any) -> Any:
    """Table cells: numbers stay numbers (the page sorts them as such), rounded for reading."""
    if isinstance(value, float):
        return round(value, 4)
    return value


def render(sections: list[RunSection], title: str) -> str:
    import datetime

    import jinja2

    environment = jinja2.Environment(
        loader=jinja2.PackageLoader("seqtutor_agents.runs", "templates"),
        autoescape=jinja2.select_autoescape(["html", "j2"]),
        undefined=jinja2.StrictUndefined,
    )
    template = environment.get_template("report.html.j2")
    return template.render(
        title=title,
        sections=sections,
        created=datetime.datetime.now(datetime.timezone.utc).strftime("%Y-%m-%d %H:%M UTC"),
    )


def build_report(
    runs: list[str | Path],
    out: str | Path,
    n: int = 500,
    seed: int = 0,
    media: int = 6,
    optimum_n: int | None = None,
    progress: bool = True,
    on_batch: Callable[[int], None] | None = None,
) -> Path:
    """Write the report page of ``runs`` to ``out``; returns its path.

    :param n: samples of each model (and of its prior) for the statistics.
    :param media: compositions with a player, or molecules per grid.
    :param optimum_n: prior samples behind π* (None: the domain's default; 0: no π*).
    :param on_batch: called with the first run's episodes done after each batch (a job's time bound).
    """
    from .owned import check_output_file

    outputs, name = check_output_file(out)  # before any sampling: seqtutor replaces only a page it wrote
    sections: list[RunSection] = []
    for run in runs:
        if progress:
            print(f"report: sampling {run} ...", flush=True)
        sections.append(run_section(Path(run), n, seed, media, optimum_n, on_batch if not sections else None))
    title = "seqtutor report: " + ", ".join(s.name for s in sections)
    return outputs.write_text(name, render(sections, title), "report")
