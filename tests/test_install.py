"""The installer refuses a PostgREST binary whose checksum is not the pinned one."""
import shutil
import subprocess
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
SCRIPT = ROOT / "scripts" / "install-postgrest.sh"
PINNED = "0af68afe747ce09964f29e7c872e77b038aec483a8f3923c20850e850447add5"


def test_installed_binary_matches_the_pinned_checksum():
    out = subprocess.run(["sha256sum", str(ROOT / ".venv" / "bin" / "postgrest")], capture_output=True, text=True)
    assert out.stdout.split()[0] == PINNED


def test_a_checksum_mismatch_is_refused(tmp_path):
    wrong = "0" * 64
    script = tmp_path / "install-postgrest.sh"
    script.write_text(SCRIPT.read_text().replace(PINNED, wrong))
    script.chmod(0o755)
    dest = tmp_path / "bin" / "postgrest"
    dest.parent.mkdir()
    out = subprocess.run(["bash", str(script), str(dest)], capture_output=True, text=True, timeout=300)
    assert out.returncode != 0
    assert "refusing to install PostgREST" in out.stderr and f"expected {wrong}" in out.stderr
    assert not dest.exists(), "nothing was installed"


def test_install_is_idempotent_and_quick(tmp_path):
    dest = tmp_path / "postgrest"
    shutil.copy2(ROOT / ".venv" / "bin" / "postgrest", dest)
    out = subprocess.run(["bash", str(SCRIPT), str(dest)], capture_output=True, text=True, timeout=60)
    assert out.returncode == 0 and out.stderr == "", "an installed, matching binary is left alone"
