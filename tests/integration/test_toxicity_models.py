"""Model-backed toxicity backends on tiny BERTs made here: detoxify (safe loading), transformers, ONNX, cascade."""

from __future__ import annotations

import os
import pickle
import subprocess
import sys
from pathlib import Path
from typing import Any

import numpy as np
import pytest

torch = pytest.importorskip("torch", reason="needs the detoxify extra (torch)")
transformers = pytest.importorskip("transformers", reason="needs the detoxify extra (transformers)")

from safeguard.classifiers.toxicity import ToxicityClassifier  # noqa: E402
from safeguard.classifiers.toxicity.export import export_onnx  # noqa: E402
from safeguard.classifiers.toxicity.random_model import make_detoxify_checkpoint  # noqa: E402
from safeguard.errors import ModelLoadError  # noqa: E402
from safeguard.testing import check_classifier  # noqa: E402
from safeguard.types import Post  # noqa: E402

pytestmark = pytest.mark.model

ROOT = Path(__file__).resolve().parents[2]
TEXTS = [
    "you are an idiot",
    "Does this kettle come in black?",
    "",
    "you are an idiot",
    "a much longer post about the blender that broke after two days of light use " * 30,
    "Ünïcödé, emoji 🎉 and zero\u200bwidth",
]
SIX = ["toxicity", "severe_toxicity", "obscene", "threat", "insult", "identity_attack"]


@pytest.fixture(scope="module")
def tiny(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, Path]:
    return make_detoxify_checkpoint(tmp_path_factory.mktemp("tiny"), size="tiny", seed=3)


def posts(texts: list[str]) -> list[Post]:
    return [Post(id=str(i), text=t) for i, t in enumerate(texts)]


def matrix(rows: list[dict[str, Any]], labels: list[str]) -> np.ndarray:
    return np.array([[r[label] for label in labels] for r in rows])


def detoxify_options(tiny: tuple[Path, Path]) -> dict[str, Any]:
    return {"backend": "detoxify", "checkpoint": str(tiny[0]), "config_dir": str(tiny[1])}


def test_detoxify_backend_equals_detoxify_own_predict(tiny: tuple[Path, Path], tmp_path: Path) -> None:
    detoxify = pytest.importorskip("detoxify", reason="needs the detoxify package")
    # Detoxify's loader reads the base config by the checkpoint's arch model_type even when given a config
    # path; point that at the local directory so the unmodified class loads offline.
    loaded = torch.load(tiny[0], weights_only=True)
    loaded["config"]["arch"]["args"]["model_type"] = str(tiny[1])
    local = tmp_path / "local.ckpt"
    torch.save(loaded, local)
    stock = detoxify.Detoxify(checkpoint=str(local), huggingface_config_path=str(tiny[1]))
    expected = stock.predict(TEXTS)

    clf = ToxicityClassifier(**detoxify_options(tiny))
    assert list(clf.outputs) == SIX
    got = clf.classify(posts(TEXTS))
    for label in SIX:
        assert [r[label] for r in got] == pytest.approx(expected[label], abs=1e-6)


def conforms_up_to_padding(clf: ToxicityClassifier) -> None:
    """check_classifier's checks, except that one-post and batched scores may differ by float noise.

    Padding a post to the longest in its batch changes the summation order inside the model, so scores
    move by ~1e-7; check_classifier demands exact equality, so it runs on one-post batches here.
    """
    from safeguard.testing import SAMPLE_POSTS

    for post in SAMPLE_POSTS:
        check_classifier(clf, [post])
    batch = matrix(clf.classify(list(SAMPLE_POSTS)), list(clf.outputs))
    single = np.vstack([matrix(clf.classify([p]), list(clf.outputs)) for p in SAMPLE_POSTS])
    assert np.abs(batch - single).max() <= 1e-5


def test_detoxify_backend_conforms(tiny: tuple[Path, Path]) -> None:
    conforms_up_to_padding(ToxicityClassifier(**detoxify_options(tiny)))


def test_model_is_loaded_once_per_process(tiny: tuple[Path, Path]) -> None:
    a = ToxicityClassifier(**detoxify_options(tiny))
    b = ToxicityClassifier(name="other", **detoxify_options(tiny))
    a.load()
    b.load()
    assert a.backend.load_model() is b.backend.load_model()  # type: ignore[attr-defined]


class _Payload:
    def __init__(self, marker: Path) -> None:
        self.marker = marker

    def __reduce__(self) -> tuple[Any, ...]:
        return (os.system, (f"touch {self.marker}",))


def test_poisoned_checkpoint_is_refused_and_nothing_runs(tiny: tuple[Path, Path], tmp_path: Path) -> None:
    marker = tmp_path / "pwned"
    poisoned = tmp_path / "poisoned.ckpt"
    loaded = torch.load(tiny[0], weights_only=True)
    loaded["payload"] = _Payload(marker)
    with poisoned.open("wb") as f:
        pickle.dump(loaded, f)  # a plain pickle; torch.load reads it the legacy way
    torch.save(loaded, tmp_path / "poisoned_zip.ckpt")
    for path in (poisoned, tmp_path / "poisoned_zip.ckpt"):
        clf = ToxicityClassifier(backend="detoxify", checkpoint=str(path), config_dir=str(tiny[1]))
        with pytest.raises(ModelLoadError, match=r"refused to load checkpoint.*Nothing in it was run"):
            clf.load()
    assert not marker.exists()


@pytest.mark.parametrize(
    ("mutate", "message"),
    [
        (lambda c: [c["state_dict"].pop(k) for k in ("classifier.weight", "classifier.bias")], "missing 2 weight"),
        (lambda c: c["state_dict"].update(extra=torch.zeros(1)), "unexpected 1"),
        (lambda c: c["config"]["dataset"]["args"]["classes"].pop(), "num_classes is 6 but 5 class names"),
        (
            lambda c: (
                c["config"]["dataset"]["args"]["classes"].append("extra"),
                c["config"]["arch"]["args"].update(num_classes=7),
            ),
            "the classifier head has 6 outputs but the checkpoint lists 7 classes",
        ),
        (lambda c: c["config"]["arch"]["args"].update(model_name="GPT2Model"), "model class 'GPT2Model' is not one of"),
        (lambda c: c.pop("state_dict"), "needs the keys 'config' and 'state_dict'"),
    ],
)
def test_broken_checkpoints_are_refused(tiny: tuple[Path, Path], tmp_path: Path, mutate: Any, message: str) -> None:
    loaded = torch.load(tiny[0], weights_only=True)
    mutate(loaded)
    path = tmp_path / "broken.ckpt"
    torch.save(loaded, path)
    clf = ToxicityClassifier(backend="detoxify", checkpoint=str(path), config_dir=str(tiny[1]))
    with pytest.raises(ModelLoadError, match=message):
        clf.load()


def test_checkpoint_without_a_declared_label_is_refused(tmp_path: Path) -> None:
    ckpt, config_dir = make_detoxify_checkpoint(tmp_path, model_type="original")
    clf = ToxicityClassifier(
        backend="detoxify", model_type="unbiased", checkpoint=str(ckpt), config_dir=str(config_dir)
    )
    assert "sexual_explicit" in clf.outputs
    with pytest.raises(ModelLoadError, match="lack sexual_explicit"):
        clf.load()


def test_offline_without_local_files_says_what_to_pass(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    clf = ToxicityClassifier(backend="detoxify", model_type="original")
    with pytest.raises(ModelLoadError, match=r"pass checkpoint: PATH .* and config_dir: DIR"):
        clf.load()


def test_loading_and_scoring_print_nothing(tiny: tuple[Path, Path]) -> None:
    code = (
        "from safeguard.classifiers.toxicity import ToxicityClassifier; from safeguard.types import Post; "
        f"c = ToxicityClassifier(backend='detoxify', checkpoint={str(tiny[0])!r}, config_dir={str(tiny[1])!r}); "
        "c.classify([Post(id='1', text='hello')])"
    )
    env = {**os.environ, "HF_HUB_OFFLINE": "1", "PYTHONPATH": str(ROOT / "src")}
    result = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, env=env, check=True)
    assert result.stdout == ""
    assert result.stderr == ""


@pytest.fixture(scope="module")
def exported(tiny: tuple[Path, Path], tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    pytest.importorskip("onnxruntime", reason="needs the onnx extra")
    pytest.importorskip("onnx", reason="needs the onnx extra")
    out = tmp_path_factory.mktemp("onnx")
    return {
        "fp32": export_onnx(detoxify_options(tiny), out / "tiny.onnx"),
        "int8": export_onnx(detoxify_options(tiny), out / "tiny-int8.onnx", int8=True),
    }


def test_onnx_fp32_equals_torch_within_1e_4(tiny: tuple[Path, Path], exported: dict[str, Path]) -> None:
    reference = matrix(ToxicityClassifier(**detoxify_options(tiny)).classify(posts(TEXTS)), SIX)
    onnx_clf = ToxicityClassifier(backend="onnx", model=str(exported["fp32"]))
    assert list(onnx_clf.outputs) == SIX
    got = matrix(onnx_clf.classify(posts(TEXTS)), SIX)
    assert np.abs(got - reference).max() <= 1e-4
    conforms_up_to_padding(onnx_clf)


def test_onnx_int8_stays_within_its_stated_bound(tiny: tuple[Path, Path], exported: dict[str, Path]) -> None:
    reference = matrix(ToxicityClassifier(**detoxify_options(tiny)).classify(posts(TEXTS)), SIX)
    got = matrix(ToxicityClassifier(backend="onnx", model=str(exported["int8"])).classify(posts(TEXTS)), SIX)
    assert np.abs(got - reference).max() <= 0.02


def test_onnx_backend_runs_without_torch(exported: dict[str, Path]) -> None:
    code = (
        "import sys; from safeguard.classifiers.toxicity import ToxicityClassifier; from safeguard.types import Post; "
        f"c = ToxicityClassifier(backend='onnx', model={str(exported['fp32'])!r}); "
        "c.classify([Post(id='1', text='hello')]); print('torch' in sys.modules, 'transformers' in sys.modules)"
    )
    env = {**os.environ, "PYTHONPATH": str(ROOT / "src")}
    result = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, env=env, check=True)
    assert result.stdout.strip() == "False False"


def test_cascade_routes_the_band_to_the_slow_model(exported: dict[str, Path]) -> None:
    clf = ToxicityClassifier(
        backend="cascade", fast="fast", slow={"backend": "onnx", "model": str(exported["fp32"])}, band=[0.1, 0.9]
    )
    assert set(clf.outputs) == {"toxicity", "insult", "threat", "identity_attack", "escalated"}
    texts = ["I will kill you", "Does this kettle come in black?", "kill the power at the breaker", "you idiot"]
    fast = ToxicityClassifier(backend="fast").classify(posts(texts))
    rows = clf.classify(posts(texts))
    assert 0 < sum(r["escalated"] for r in rows) < 4  # both routes taken
    for f, r in zip(fast, rows, strict=True):
        uncertain = 0.1 <= f["toxicity"] <= 0.9
        assert r["escalated"] is uncertain
        if not uncertain:
            assert r["toxicity"] == pytest.approx(f["toxicity"])
        else:
            assert r["toxicity"] == pytest.approx(0.5, abs=0.1)  # the random slow model's score
    backend = clf.backend
    assert backend.stats["posts"] == 4  # type: ignore[attr-defined]
    assert backend.escalated_share == sum(r["escalated"] for r in rows) / 4  # type: ignore[attr-defined]


@pytest.fixture(scope="module")
def hf_model_dir(tmp_path_factory: pytest.TempPathFactory, tiny: tuple[Path, Path]) -> Path:
    directory = tmp_path_factory.mktemp("hf")
    config = transformers.BertConfig.from_pretrained(tiny[1])
    config.num_labels = 3
    config.id2label = {0: "toxic", 1: "insult", 2: "neutral"}
    config.label2id = {v: k for k, v in config.id2label.items()}
    config.problem_type = "multi_label_classification"
    torch.manual_seed(1)
    transformers.BertForSequenceClassification(config).save_pretrained(directory)
    transformers.AutoTokenizer.from_pretrained(tiny[1]).save_pretrained(directory)
    return directory


def test_transformers_backend_maps_labels_and_equals_the_model(hf_model_dir: Path) -> None:
    clf = ToxicityClassifier(backend="transformers", model_dir=str(hf_model_dir), labels={"toxic": "toxicity"})
    assert list(clf.outputs) == ["toxicity"]
    got = [r["toxicity"] for r in clf.classify(posts(TEXTS))]
    model = transformers.AutoModelForSequenceClassification.from_pretrained(hf_model_dir).eval()
    tokenizer = transformers.AutoTokenizer.from_pretrained(hf_model_dir)
    with torch.no_grad():
        logits = model(**tokenizer(TEXTS, return_tensors="pt", padding=True, truncation=True)).logits
    assert got == pytest.approx(torch.sigmoid(logits[:, 0]).tolist(), abs=1e-6)


def test_transformers_backend_reads_known_labels_from_the_config(hf_model_dir: Path) -> None:
    clf = ToxicityClassifier(backend="transformers", model_dir=str(hf_model_dir))
    assert list(clf.outputs) == ["toxicity", "insult"]


def test_transformers_label_the_model_lacks_is_refused(hf_model_dir: Path) -> None:
    clf = ToxicityClassifier(backend="transformers", model_dir=str(hf_model_dir), labels={"rude": "insult"})
    with pytest.raises(ModelLoadError, match="labels names rude, which the model does not have"):
        clf.load()


def test_transformers_model_exports_to_onnx(hf_model_dir: Path, tmp_path: Path) -> None:
    pytest.importorskip("onnxruntime", reason="needs the onnx extra")
    options = {"backend": "transformers", "model_dir": str(hf_model_dir)}
    out = export_onnx(options, tmp_path / "hf.onnx")
    a = matrix(ToxicityClassifier(**options).classify(posts(TEXTS)), ["toxicity", "insult"])
    b = matrix(ToxicityClassifier(backend="onnx", model=str(out)).classify(posts(TEXTS)), ["toxicity", "insult"])
    assert np.abs(a - b).max() <= 1e-4


def test_export_onnx_cli_then_moderate_with_it(tiny: tuple[Path, Path], tmp_path: Path) -> None:
    pytest.importorskip("onnxruntime", reason="needs the onnx extra")
    env = {**os.environ, "HF_HUB_OFFLINE": "1", "PYTHONPATH": str(ROOT / "src"), "NO_COLOR": "1", "COLUMNS": "200"}
    out = tmp_path / "model.onnx"
    rules = tmp_path / "tox.yaml"
    rules.write_text(
        "ruleset: t\nallow_outside: true\nclassifiers:\n"  # the checkpoint lives in another directory
        f"  toxicity: {{backend: detoxify, checkpoint: {tiny[0]}, config_dir: {tiny[1]}}}\n"
        "rules:\n  - id: toxic\n    when: toxicity.toxicity > 2.0\n    action: hold\n",
        encoding="utf-8",
    )
    result = subprocess.run(
        [sys.executable, "-m", "safeguard", "export-onnx", str(out), "--rules", str(rules)],
        capture_output=True,
        text=True,
        env=env,
        timeout=300,
    )
    assert result.returncode == 0, result.stderr
    assert "max |onnx - torch|" in result.stderr
    assert out.is_file() and out.with_suffix(".tokenizer.json").is_file() and out.with_suffix(".json").is_file()
    onnx_rules = tmp_path / "onnx.yaml"
    onnx_rules.write_text(
        "ruleset: t\nclassifiers:\n  toxicity: {backend: onnx, model: model.onnx}\n"
        "rules:\n  - id: toxic\n    when: toxicity.toxicity > 0.0\n    action: hold\n",
        encoding="utf-8",
    )
    result = subprocess.run(
        [sys.executable, "-m", "safeguard", "moderate", "-", "--rules", str(onnx_rules)],
        input='{"id": "1", "text": "hello"}\n',
        capture_output=True,
        text=True,
        env=env,
        timeout=300,
    )
    assert result.returncode == 0, result.stderr
    assert '"hold"' in result.stdout


@pytest.mark.parametrize(
    ("args", "message"),
    [
        ([], "say which model to export"),
        (["--backend", "transformers"], "needs --model-dir"),
        (["--rules", "nope.yaml"], "not found"),
        (["--rules", "rules/community.yaml", "--classifier", "lists"], "has no toxicity classifier named 'lists'"),
        (["--backend", "detoxify", "--checkpoint", "missing.ckpt", "--config-dir", "."], "does not exist"),
    ],
)
def test_export_onnx_cli_errors(args: list[str], message: str, tmp_path: Path) -> None:
    env = {**os.environ, "HF_HUB_OFFLINE": "1", "PYTHONPATH": str(ROOT / "src"), "NO_COLOR": "1", "COLUMNS": "200"}
    result = subprocess.run(
        [sys.executable, "-m", "safeguard", "export-onnx", str(tmp_path / "x.onnx"), *args],
        capture_output=True,
        text=True,
        env=env,
        cwd=ROOT,
        timeout=300,
    )
    assert result.returncode == 2
    assert message in result.stderr
    assert "Traceback" not in result.stderr
