"""Shared test set-up: keep every temporary folder (SB3, torch, music21) inside pytest's tmp tree."""

import os
import tempfile

import pytest


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
