"""`esans bench`: lists the project's benchmarks and runs one with its own options."""

import subprocess
from pathlib import Path

from tests.conftest import BIN

ROOT = Path(__file__).resolve().parents[2]


def _esans(*args, cwd):
    return subprocess.run([str(BIN / "esans"), "bench", *args], cwd=cwd, capture_output=True,
                          text=True, timeout=120)


def test_lists_the_projects_benchmarks():
    out = _esans(cwd=ROOT)
    assert out.returncode == 0, out.stderr
    lines = out.stdout.splitlines()
    names = {ln.split()[0] for ln in lines[1:] if ln.strip()}
    runnable = {f.stem for f in (ROOT / "bench").glob("*.py")
                if '__name__ == "__main__"' in f.read_text()}
    assert names == runnable and "map" in names and "timing" not in names
    assert any(ln.startswith("map") and "Which sampler for which catalogue" in ln for ln in lines)


def test_runs_one_with_its_own_options_and_exit_code(tmp_path):
    (tmp_path / "bench").mkdir()
    (tmp_path / "bench/echo.py").write_text(
        '"""Echo the options.\n\nlonger text"""\nimport sys, os\n'
        'if __name__ == "__main__":\n'
        '    print(os.getcwd(), sys.executable, *sys.argv[1:])\n'
        '    sys.exit(3 if "--fail" in sys.argv else 0)\n')
    ok = _esans("echo", "--seeds", "3", "--help", cwd=tmp_path)
    assert ok.returncode == 0, ok.stderr
    cwd, exe, *args = ok.stdout.split()
    assert Path(cwd) == tmp_path and args == ["--seeds", "3", "--help"]
    assert Path(exe).parent == BIN   # the project's interpreter
    assert _esans("echo", "--fail", cwd=tmp_path).returncode == 3
    listing = _esans("--root", str(tmp_path), cwd=ROOT)
    assert "Echo the options." in listing.stdout and "longer" not in listing.stdout


def test_an_unknown_benchmark_is_one_error_line(tmp_path):
    out = _esans("nosuch", cwd=ROOT)
    assert out.returncode == 2
    err = [ln for ln in out.stderr.splitlines() if ln.strip()]
    assert len(err) == 1 and err[0].startswith("esans: error:") and "map" in err[0]
