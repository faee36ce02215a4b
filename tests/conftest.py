"""Shared test set-up: keep every temporary folder (SB3, torch, music21) inside pytest's tmp tree."""

import os
import tempfile

import pytest
import torch

from seqtutor_envs.prior import LSTMPrior, PriorConfig

# `make test` spreads the tests over the machine's cores (pytest-xdist, one worker process per core): each
# worker, and every process it starts, runs torch on one thread, so that two workers on two cores do not
# each start a thread per core and wait for one another. A value set by hand is kept.
if os.environ.get("PYTEST_XDIST_WORKER"):
    os.environ.setdefault("OMP_NUM_THREADS", "1")


@pytest.fixture(scope="session", autouse=True)
def _isolated_tmpdir(tmp_path_factory):
    tmp = tmp_path_factory.mktemp("TMPDIR")
    old_env, old_tempdir = os.environ.get("TMPDIR"), tempfile.tempdir
    os.environ["TMPDIR"] = str(tmp)
    tempfile.tempdir = str(tmp)
    yield tmp
    tempfile.tempdir = old_tempdir
    if old_env is None:
        os.environ.pop("TMPDIR", None)
    else:
        os.environ["TMPDIR"] = old_env


# Property tests stay bounded (and free of wall-clock deadlines, which a loaded 2-core CI machine
# would trip); a test that needs more examples says so with its own @settings.
from hypothesis import HealthCheck, settings  # noqa: E402

settings.register_profile("seqtutor", max_examples=60, deadline=None, suppress_health_check=[HealthCheck.too_slow])
settings.load_profile(os.environ.get("HYPOTHESIS_PROFILE", "seqtutor"))


def _cuda_available() -> bool:
    import torch

    return torch.cuda.is_available()


def pytest_configure(config):
    threads = os.environ.get("OMP_NUM_THREADS", "")
    if os.environ.get("PYTEST_XDIST_WORKER") and threads.isdigit():  # torch may predate the setting above
        import torch

        torch.set_num_threads(int(threads))


#: Devices a learner test runs on: the CPU always, CUDA where there is one.
DEVICES = ["cpu", pytest.param("cuda", marks=pytest.mark.skipif(not _cuda_available(), reason="no CUDA device here"))]


@pytest.fixture(params=DEVICES)
def device(request) -> str:
    return request.param


@pytest.fixture(scope="module")
def random_prior(tmp_path_factory) -> str:
    """An untrained Note RNN (seeded): its compositions break the music rules everywhere (~40 % out-of-key notes),
    so any learning shows."""
    torch.manual_seed(0)
    path = tmp_path_factory.mktemp("prior") / "random_prior.pt"
    LSTMPrior(PriorConfig(num_outputs=38, hidden_size=16)).save(path, {"domain": "melody"})
    return str(path)
