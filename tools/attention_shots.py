"""README's attention pictures: the attention strip after training on the two labelled examples
(docs/attention-text.png: sentiment, words shaded by α; docs/attention-series.png: find-the-marker,
bars of α under the series), the confusion matrix of find-the-marker (docs/confusion.png), the
attention stage after the last cell (docs/attention-stage.png) and the attention window
(docs/attention-window.png; ``--small``: also /tmp/attention-window-1024.png at 1024×700).

    QT_QPA_PLATFORM=offscreen python tools/attention_shots.py
"""

import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from explorer.app.labelled import LabelledRun, labelled_settings  # noqa: E402
from explorer.data.examples import load_example  # noqa: E402
from explorer.figures.labelled import ConfusionMatrixWidget, strip_for  # noqa: E402
from explorer.figures.panel import ensure_app  # noqa: E402


def trained(name: str) -> LabelledRun:
    run = LabelledRun(load_example(name), labelled_settings(name))
    for _ in run.trainer.steps():
        pass
    return run


def main() -> None:
    ensure_app()
    docs = ROOT / "docs"
    text, series = trained("sentiment"), trained("find-the-marker")
    strip_for(text, sample=3).export_png(docs / "attention-text.png")
    strip_for(series, sample=0).export_png(docs / "attention-series.png")
    cm = ConfusionMatrixWidget()
    cm.set_matrix(series.confusion("val"), series.dataset.class_names,
                  f"find-the-marker: confusion matrix (validation, accuracy {series.accuracy('val'):.1%})")
    cm.export_png(docs / "confusion.png")
    from explorer.app.labelled import labelled_view
    from explorer.figures.attention_stage import Stage, export_attention_stage

    tmp = Path("/tmp")
    export_attention_stage(Stage.of_view(labelled_view(series, 0, with_confusion=False)), tmp, "attention-stage")
    (docs / "attention-stage.png").write_bytes((tmp / "attention-stage.png").read_bytes())
    window_shot(series, docs / "attention-window.png")
    if "--small" in sys.argv:
        window_shot(series, tmp / "attention-window-1024.png", size=(1024, 700))
    print("wrote docs/attention-text.png, docs/attention-series.png, docs/confusion.png, docs/attention-stage.png, "
          "docs/attention-window.png")


def window_shot(run: LabelledRun, path: Path, size=(1600, 1000)) -> None:
    """The attention window on a trained run at ``size``, once it has drawn the first sample."""
    from PySide6.QtCore import QEventLoop, QTimer

    from explorer.gui.attention_window import AttentionWindow

    win = AttentionWindow()
    loop = QEventLoop()
    win.sigView.connect(lambda *_: QTimer.singleShot(300, loop.quit))
    win.resize(*size)
    win.show()
    win.set_run(run)
    loop.exec()
    win.grab().save(str(path))
    win.close()
    win.after_close()


if __name__ == "__main__":
    main()
