"""The checkout's way to the app: `streamlit run app.py` runs labkit's page, labkit/app/page.py (the
same page `make app` and an installed `labkit app` serve), as Streamlit's script, afresh on every rerun."""
import runpy
from pathlib import Path

runpy.run_path(str(Path(__file__).resolve().parent / "labkit" / "app" / "page.py"), run_name="__main__")
