"""The front end's recogniser (training/recognizer.py): the speech encoder + CTC fine-tuned with a
vocal-tract-length perturbation on log-mel features, used for recognition while speech.safetensors
keeps encoding the respoken sentence into the tokens the fusion model reads."""
from pathlib import Path

import numpy as np
import pytest
import torch

from tristream_ros.errors import InputError

MODEL = Path(__file__).resolve().parents[1] / "models" / "demo"


def test_warp_moves_spectral_peaks_and_keeps_shape():
    from tristream_ros.training.recognizer import warp_mel, warp_source_bins
    mel = np.zeros((5, 80), np.float32)
    mel[:, 30] = 1.0  # one band lit
    assert np.array_equal(warp_mel(mel, 1.0), mel)
    up, down = warp_mel(mel, 1.3), warp_mel(mel, 0.8)
    assert up.shape == down.shape == mel.shape and np.isfinite(up).all() and np.isfinite(down).all()
    assert int(up[0].argmax()) > 30 > int(down[0].argmax())  # formants x1.3 move up the mel axis, x0.8 down
    src = warp_source_bins(80, 1.2)
    assert np.all(np.diff(src) >= 0) and src.min() >= 0 and src.max() <= 79  # monotone, inside the band


def test_options_are_checked():
    from tristream_ros.training.recognizer import RecognizerOptions
    with pytest.raises(InputError, match="warp"):
        RecognizerOptions(warp=(1.3, 0.9))
    with pytest.raises(InputError, match="warp_rate"):
        RecognizerOptions(warp_rate=1.5)
    with pytest.raises(InputError, match="lr"):
        RecognizerOptions(lr=0.0)


def test_continued_fine_tune_starts_from_the_given_recogniser(tmp_path):
    """--init: a missing file is a clear error before any data is read; main() reports it (exit 2)."""
    from tristream_ros.errors import ModelFileError
    from tristream_ros.training.recognizer import main, run
    with pytest.raises(ModelFileError, match="no such recogniser"):
        run(MODEL, tmp_path / "data", tmp_path / "run", init=tmp_path / "missing.safetensors")
    assert main(["--model", str(MODEL), "--data", str(tmp_path / "data"), "--run", str(tmp_path / "run"),
                 "--init", str(tmp_path / "missing.safetensors")]) == 2


def test_fine_tuning_trains_encoder_and_ctc_not_adapter(tmp_path):
    from tristream_ros.data import speech_synth as S
    from tristream_ros.model.checkpoint import load_config
    from tristream_ros.signal.features import log_mel_spectrogram
    from tristream_ros.training.evaluate import load_speech_model
    from tristream_ros.training.recognizer import RecognizerOptions, train_recognizer
    speech = load_speech_model(MODEL, load_config(MODEL)).float()
    before = {k: v.clone() for k, v in speech.state_dict().items()}
    texts = ["go to the red ball", "turn left", "stop", "what colour is the cup"]
    mel, text = {}, {}
    for i, t in enumerate(texts):  # real espeak-ng speech, two training voices
        for v in ("m1", "f2"):
            audio = S.synthesize(t, S.VoiceSpec("en-us", v), tmp_path / "tts")
            mel[f"{i}{v}"], text[f"{i}{v}"] = log_mel_spectrogram(audio, 80), t
    summary = train_recognizer(speech, mel, text, tmp_path, RecognizerOptions(steps=10, batch=4), progress=False)
    assert summary["steps"] == 10 and np.isfinite(summary["final_loss"]["ctc"])
    after = speech.state_dict()
    changed = {k for k in before if not torch.equal(before[k], after[k])}
    assert any(k.startswith("encoder.") for k in changed) and any(k.startswith("ctc_head.") for k in changed)
    assert not any(k.startswith("adapter.") for k in changed)
    assert (tmp_path / "recognizer_loss.png").is_file()
    with pytest.raises(InputError, match="at least"):
        train_recognizer(speech, dict(list(mel.items())[:2]), text, tmp_path, RecognizerOptions(batch=4),
                         progress=False)


def test_separate_recognizer_needs_respoken_tokens():
    from tristream_ros.model.checkpoint import load_config
    from tristream_ros.model.speech.tokenizer import HybridSpeechTokenizer
    from tristream_ros.training.evaluate import load_speech_model
    speech = load_speech_model(MODEL, load_config(MODEL))
    with pytest.raises(InputError, match="respoken"):
        HybridSpeechTokenizer(speech, recognizer=speech)


def test_a_folder_with_a_recogniser_recognises_with_it(tmp_path):
    """build_frontend (the node's defaults) takes recognizer.safetensors from the model folder when
    it has one (the shipped folder does, since session 14): its CTC recognises, speech.safetensors
    encodes the respoken sentence. A folder without one recognises with speech.safetensors."""
    import shutil

    from tristream_ros.data import speech_synth as S
    from tristream_ros.model.checkpoint import load_config
    from tristream_ros.model.speech.respoken import RespokenTokens
    from tristream_ros.training.evaluate import build_frontend, load_speech_model
    folder = tmp_path / "model"
    shutil.copytree(MODEL, folder)
    (folder / "recognizer.safetensors").unlink()
    speech = load_speech_model(MODEL, load_config(MODEL))
    without = build_frontend(speech, "hybrid", folder)
    assert not without.separate_recognizer and without.encoder_frontend.model is speech
    front = build_frontend(speech, "hybrid", MODEL)
    assert front.separate_recognizer and front.encoder_frontend.model is not speech
    text = "go to the red ball"
    heard = front.transcribe(S.synthesize(text, S.VoiceSpec("en-us", "m1"), tmp_path / "tts"))
    assert heard.text == text
    torch.testing.assert_close(heard.tokens, RespokenTokens(speech)(text))
