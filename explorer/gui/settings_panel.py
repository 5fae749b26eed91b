"""The settings panel: data (file, every column of it as inputs and the target, a year × month
table as one series or its columns, missing values, normalisation, validation fraction, sequence
length, text level) and model (cell, units, layers, bidirectional, optimiser, learning rate, clipping, epochs, batch,
seed). It only holds values; the window decides what a change means."""

from __future__ import annotations

from pathlib import Path

from PySide6.QtCore import Signal
from PySide6.QtWidgets import (QAbstractItemView, QCheckBox, QComboBox, QDoubleSpinBox, QFormLayout, QGroupBox,
                               QHBoxLayout, QLabel, QListWidget, QListWidgetItem, QPushButton,
                               QSpinBox, QVBoxLayout, QWidget)
from PySide6.QtCore import Qt

from explorer.engine.describe import KINDS
from explorer.runs.options import NUMERIC_OPTIONS
from explorer.gui.plain_text import plain_label, plain_tooltip
from explorer.runs.store import ModelSettings

UNITS_RANGE = (1, 256)
#: stacked layers offered for a new model: the command line's range (``--layers``)
LAYERS_RANGE = next((int(o.low), int(o.high)) for o in NUMERIC_OPTIONS if o.dest == "layers")


#: What a built-in example of sequences predicts (its target is not one of its input columns).
_TARGETS = {"adding": "the marked sum", "first-symbol": "the first symbol"}

_NOT_AN_INPUT = {
    "index": "{} numbers the rows (an index): it is not an input",
    "date": "{} is the time of each row: the x axis of the plots, not an input",
}


class SettingsPanelWidget(QWidget):
    """Form widgets for every setting, with ``data_options()`` and ``model_settings()`` readers."""

    sigApplyData = Signal()            # "Apply" in the data group: reload with these options
    sigModelChanged = Signal()         # any model setting edited by the person
    sigUnitsChanged = Signal(int)      # the units spin box moved (the parameter-count plot follows)

    def __init__(self, parent=None):
        super().__init__(parent)
        self._loading = False
        lay = QVBoxLayout(self)
        lay.setContentsMargins(6, 6, 6, 6)

        data = QGroupBox("Data")
        f = QFormLayout(data)
        self.source_label = plain_label("—")
        self.source_label.setWordWrap(True)
        self.source_label.setToolTip("The file or built-in example being trained on")
        f.addRow("Source", self.source_label)
        self.example_combo = QComboBox()
        self.example_combo.setToolTip("Load a built-in example")
        f.addRow("Example", self.example_combo)
        self.columns_list = QListWidget()
        self.columns_list.setMaximumHeight(120)
        self.columns_list.setUniformItemSizes(True)             # a file may have 100,000 columns
        self.columns_list.setSelectionMode(QAbstractItemView.SelectionMode.NoSelection)
        self.columns_list.setToolTip("Every column of the file: tick the inputs (several make a multivariate "
                                     "input); columns that are not numbers cannot be inputs")
        f.addRow("Inputs", self.columns_list)
        self.target_combo = QComboBox()
        self.target_combo.setToolTip("The column predicted one step ahead (any numeric column of the file)")
        f.addRow("Target", self.target_combo)
        self.year_month_combo = QComboBox()
        self.year_month_combo.addItem("one monthly series", "series")
        self.year_month_combo.addItem("keep the month columns", "columns")
        self.year_month_combo.setToolTip("A table with a YEAR column and JAN…DEC columns, or a file of 12 (or 4) "
                                         "numbers a line: read it as one series (row by row) or keep its columns")
        f.addRow("Year × month", self.year_month_combo)
        self.key_combo = QComboBox()
        self.key_combo.setToolTip("A long table holding several series (a column of names such as symbol, "
                                  "repeating): one series per name, windows never cross from one to the next")
        self.set_keys([], "")
        f.addRow("Series by", self.key_combo)
        self.missing_combo = QComboBox()
        self.missing_combo.addItems(["interpolate", "drop"])
        self.missing_combo.setToolTip("Missing values: fill by linear interpolation or drop the rows")
        f.addRow("Missing", self.missing_combo)
        self.normalize_combo = QComboBox()
        self.normalize_combo.addItems(["zscore", "minmax", "none"])
        self.normalize_combo.setToolTip("Scaling fitted on the training part only")
        f.addRow("Normalise", self.normalize_combo)
        self.val_spin = QDoubleSpinBox()
        self.val_spin.setRange(0.0, 0.9)
        self.val_spin.setSingleStep(0.05)
        self.val_spin.setValue(0.2)
        self.val_spin.setToolTip("Share of the series (at its end) kept for validation")
        f.addRow("Validation", self.val_spin)
        self.seq_spin = QSpinBox()
        self.seq_spin.setRange(2, 1000)
        self.seq_spin.setValue(20)
        self.seq_spin.setToolTip("Sequence length L: each input window holds L steps (chosen to fit the "
                                 "file until you set it)")
        self.seq_spin.valueChanged.connect(self._on_seq_edited)
        self.seq_explicit = False          # the person chose the length (else the loader chooses)
        f.addRow("Seq. length", self.seq_spin)
        self.level_combo = QComboBox()
        self.level_combo.addItems(["char", "word"])
        self.level_combo.setToolTip("Text files: predict the next character or the next word")
        f.addRow("Text level", self.level_combo)
        self.apply_button = QPushButton("Apply data settings")
        self.apply_button.clicked.connect(self.sigApplyData)
        f.addRow(self.apply_button)
        lay.addWidget(data)

        model = QGroupBox("Model and training")
        g = QFormLayout(model)
        self.cell_combo = QComboBox()
        self.cell_combo.addItems(list(KINDS))        # every cell the engine builds (its description draws it)
        g.addRow("Cell", self.cell_combo)
        self.units_spin = QSpinBox()
        self.units_spin.setRange(*UNITS_RANGE)
        self.units_spin.setToolTip("Units n: the layer holds 4n(m+n+1) parameters")
        g.addRow("Units", self.units_spin)
        self.layers_spin = QSpinBox()                  # stacked layers: the option table's range
        self.layers_spin.setRange(*LAYERS_RANGE)
        self.layers_spin.setToolTip("Stacked layers: layer 1 reads the input x_t, each deeper layer the h_t of the "
                                    "layer below")
        g.addRow("Layers", self.layers_spin)
        self.bidirectional_box = QCheckBox("bidirectional")
        self.bidirectional_box.setToolTip("A second direction in every layer that reads the sequence from t = T "
                                          "back to 1; the head sees both directions' h_t")
        g.addRow("Directions", self.bidirectional_box)
        self.optimizer_combo = QComboBox()
        self.optimizer_combo.addItems(["adam", "sgd", "momentum"])
        g.addRow("Optimiser", self.optimizer_combo)
        self.lr_spin = QDoubleSpinBox()
        self.lr_spin.setDecimals(5)
        self.lr_spin.setRange(1e-5, 10.0)
        self.lr_spin.setSingleStep(0.001)
        g.addRow("Learning rate", self.lr_spin)
        self.clip_spin = QDoubleSpinBox()
        self.clip_spin.setRange(0.0, 1000.0)
        self.clip_spin.setSingleStep(0.5)
        self.clip_spin.setSpecialValueText("off")
        self.clip_spin.setToolTip("Clip the global gradient norm to this value (0: off)")
        g.addRow("Clipping", self.clip_spin)
        self.epochs_spin = QSpinBox()
        self.epochs_spin.setRange(1, 100000)
        g.addRow("Epochs", self.epochs_spin)
        self.batch_spin = QSpinBox()
        self.batch_spin.setRange(1, 4096)
        g.addRow("Batch", self.batch_spin)
        self.seed_spin = QSpinBox()
        self.seed_spin.setRange(0, 2**31 - 1)
        g.addRow("Seed", self.seed_spin)
        row = QHBoxLayout()
        self.reset_button = QPushButton("Reset weights")
        self.reset_button.setToolTip("Start over from freshly initialised weights")
        row.addWidget(self.reset_button)
        g.addRow(row)
        lay.addWidget(model)
        lay.addStretch(1)

        for combo in self.findChildren(QComboBox):       # narrow docks: combos shrink, never clip
            combo.setSizeAdjustPolicy(QComboBox.SizeAdjustPolicy.AdjustToMinimumContentsLengthWithIcon)
            combo.setMinimumContentsLength(6)
        for w in (self.cell_combo, self.optimizer_combo):
            w.currentIndexChanged.connect(self._on_model_edited)
        for w in (self.units_spin, self.layers_spin, self.epochs_spin, self.batch_spin, self.seed_spin):
            w.valueChanged.connect(self._on_model_edited)
        self.bidirectional_box.toggled.connect(self._on_model_edited)
        for w in (self.lr_spin, self.clip_spin):
            w.valueChanged.connect(self._on_model_edited)
        self.units_spin.valueChanged.connect(self.sigUnitsChanged)
        self.set_model_settings(ModelSettings())         # the defaults until a run is shown
        self._offer_examples()

    def _offer_examples(self) -> None:
        from explorer.data.examples import list_examples

        combo = self.example_combo
        combo.addItem("— choose an example —", None)
        for name, desc in list_examples():
            combo.addItem(name, name)
            combo.setItemData(combo.count() - 1, desc, Qt.ItemDataRole.ToolTipRole)

    def show_run(self, run, folder: str | None = None) -> None:
        """Fill the panel from ``run``: its settings, and its dataset's source (in the run
        ``folder`` if it was opened from one), sequence length, columns, target, keys,
        normalisation and text level — only what means something for that kind of data enabled."""
        ds = run.dataset
        self.set_model_settings(run.settings)
        src = f"example: {ds.source}" if ds.config.get("type") == "example" else Path(ds.source).name
        if folder:
            src = f"run: {Path(folder).name} (data: {src})"
        self.source_label.setText(src)
        self.source_label.setToolTip(plain_tooltip(str(ds.source) if not folder else f"{folder}\ndata: {ds.source}"))
        self.set_seq_len(ds.seq_len, explicit=not getattr(ds, "seq_len_chosen", True))
        if ds.kind == "series":
            names = list(getattr(ds, "all_columns", None) or ds.config.get("columns") or ds.columns)
            numeric = getattr(ds, "numeric_columns", None)
            kinds = getattr(ds, "column_kinds", None) or []
            self.set_columns(names, list(ds.columns), ds.target_name, numeric=numeric, kinds=kinds)
            self.set_keys([n for n, k in zip(names, kinds) if k == "text"], getattr(ds, "key_column", ""))
        elif ds.kind in ("regression", "classification") and ds.columns:
            # an example's inputs are fixed: shown ticked (greyed below), with what is predicted
            self.set_columns(list(ds.columns), list(ds.columns), "")
            self.target_combo.clear()
            self.target_combo.addItem(_TARGETS.get(ds.source, "one value per sequence" if ds.kind == "regression"
                                                   else "one class per sequence"))
        else:
            self.set_columns([], [], "")
        if ds.normalizer is not None:
            self.normalize_combo.setCurrentText(ds.normalizer.method)
        self.set_kind(ds.kind)
        if ds.kind == "text":
            self.set_level(getattr(getattr(ds, "corpus", None), "level", "char"))
        if ds.kind != "series":                     # sequences made whole (an example's): nothing to choose
            self.columns_list.setEnabled(False)
            self.target_combo.setEnabled(False)

    def _on_seq_edited(self, *_):
        if not self._loading:
            self.seq_explicit = True

    def set_seq_len(self, n: int, explicit: bool) -> None:
        """Show the dataset's sequence length; ``explicit`` when the person chose it."""
        self._loading = True
        try:
            self.seq_spin.setValue(max(int(n), self.seq_spin.minimum()))
        finally:
            self._loading = False
        self.seq_explicit = explicit

    def _on_model_edited(self, *_):
        if not self._loading:
            self.sigModelChanged.emit()

    # -- reading and writing ----------------------------------------------------------------
    def model_settings(self, base: ModelSettings | None = None) -> ModelSettings:
        s = ModelSettings(**(base.__dict__ if base else {}))
        s.cell = self.cell_combo.currentText()
        s.units = self.units_spin.value()
        s.layers = self.layers_spin.value()
        s.bidirectional = self.bidirectional_box.isChecked()
        s.optimizer = self.optimizer_combo.currentText()
        s.lr = self.lr_spin.value()
        s.clip = self.clip_spin.value() or None
        s.epochs = self.epochs_spin.value()
        s.batch = self.batch_spin.value()
        s.seed = self.seed_spin.value()
        return s

    def set_model_settings(self, s: ModelSettings) -> None:
        self._loading = True
        try:
            self.cell_combo.setCurrentText(s.cell)
            self.units_spin.setValue(s.units)
            self.layers_spin.setValue(int(getattr(s, "layers", 1) or 1))
            self.bidirectional_box.setChecked(bool(getattr(s, "bidirectional", False)))
            self.optimizer_combo.setCurrentText(s.optimizer)
            self.lr_spin.setValue(s.lr)
            self.clip_spin.setValue(s.clip or 0.0)
            self.epochs_spin.setValue(s.epochs)
            self.batch_spin.setValue(s.batch)
            self.seed_spin.setValue(s.seed)
        finally:
            self._loading = False

    def set_columns(self, names: list[str], chosen: list[str], target: str, numeric=None, kinds=None) -> None:
        """Offer every column ``names`` of the file; ``chosen`` ticked, ``target`` selected.
        ``numeric`` (default: all) are the columns that can be inputs or the target; ``kinds`` (the
        loader's, one per name) say why the others cannot."""
        allowed = set(names) if numeric is None else set(numeric)      # sets: a file may have 100,000 columns
        numeric = [n for n in names if n in allowed]
        kind_of = dict(zip(names, kinds or []))
        ticked = set(chosen)
        base = QListWidgetItem().flags()
        checkable, disabled = base | Qt.ItemFlag.ItemIsUserCheckable, base & ~Qt.ItemFlag.ItemIsEnabled
        on, off = Qt.CheckState.Checked, Qt.CheckState.Unchecked
        self.columns_list.clear()
        self.columns_list.setUpdatesEnabled(False)
        for name in names:
            item = QListWidgetItem(name)
            if name in allowed:
                item.setFlags(checkable)
                item.setCheckState(on if name in ticked else off)
            else:
                item.setFlags(disabled)
                item.setToolTip(plain_tooltip(_NOT_AN_INPUT.get(kind_of.get(name), "{} does not hold numbers (dates, "
                                                                "labels): it cannot be an input").format(name)))
            self.columns_list.addItem(item)
        self.columns_list.setUpdatesEnabled(True)
        self.target_combo.clear()
        self.target_combo.addItems(numeric)
        if target in numeric:
            self.target_combo.setCurrentText(target)
        self.columns_list.setEnabled(bool(names))
        self.target_combo.setEnabled(bool(numeric))

    def set_keys(self, names: list[str], current: str) -> None:
        """Offer the text columns ``names`` as the column naming the series; ``current`` the one
        used ("" when the file was read as one series)."""
        self.key_combo.clear()
        self.key_combo.addItem("guess from the file", None)
        self.key_combo.addItem("one series (no key)", "none")
        for n in names:
            self.key_combo.addItem(n, n)
        if current:
            self.key_combo.setCurrentIndex(max(self.key_combo.findData(current), 0))

    def set_kind(self, kind: str) -> None:
        """Enable the options that mean something for this kind of data (series or text)."""
        series, text = kind in ("series", "regression"), kind == "text"
        for w in (self.columns_list, self.target_combo, self.year_month_combo, self.missing_combo,
                  self.normalize_combo, self.key_combo):
            w.setEnabled(series and (w not in (self.columns_list, self.target_combo) or w.count() > 0))
        self.level_combo.setEnabled(text)

    def set_level(self, level: str) -> None:
        """Show the level the loaded text is read at ("char" or "word")."""
        self.level_combo.setCurrentText("word" if level == "word" else "char")

    def chosen_columns(self) -> list[str]:
        return [self.columns_list.item(i).text() for i in range(self.columns_list.count())
                if self.columns_list.item(i).checkState() == Qt.CheckState.Checked]

    def data_options(self) -> dict:
        """The loader's options; ``seq_len`` is None until the person sets it (the loader chooses)."""
        return {
            "columns": self.chosen_columns() or None,
            "target": self.target_combo.currentText() or None,
            "missing": self.missing_combo.currentText(),
            "normalize": self.normalize_combo.currentText(),
            "val_fraction": self.val_spin.value(),
            "seq_len": self.seq_spin.value() if self.seq_explicit else None,
            "level": self.level_combo.currentText(),
            "year_month": self.year_month_combo.currentData(),
            "key": self.key_combo.currentData(),
        }
