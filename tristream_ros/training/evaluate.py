"""Evaluation of a checkpoint on the held-out split and on real recordings.

Everything runs through the inference path the nodes use: audio -> the default speech front
end, as the speech_tokenizer_node builds it (`HybridSpeechTokenizer`: silero VAD, pocketsphinx
with a grammar of the queries for text, replaced by our CTC's best grammar sentence when it is
sure; our encoder for speech tokens and the live CTC transcript) -> `TriStreamModel.answer(Query)` with the
scene frames offered lazily (a callable that counts its calls: vision must not be touched on
the speech route). Each sample is answered twice: STVE default budget (sparse) and all vision
tokens (dense), to measure the price of sparsity side by side.

`not_understood`: spoken queries the front end rejected as out of its domain (no query made).

Labels: `needed_route` (the cheapest sufficient expert; see phase2_alignment). Metrics, as
fractions unless named otherwise, per route and overall:

    answer_exact_match        streamed answer == the generator's answer (normalised words)
    action_accuracy           action head == labelled action ("not understood" utterances: no action)
    wrong_motion              the robot moved (forward/backward/turn/navigate/look) and that was not
                              the labelled action: the harmful share of the action errors
    target_error              mean |uv_pred - uv_true| (normalised image units) over target actions
    target_missing            share of target actions answered without a target
    route_cheapest_sufficient the cascade's final expert == the cheapest sufficient expert
    transcript_cer            CER of the default front end's text
    ctc_transcript_cer        CER of our live CTC transcript
    vision_touched            share of queries for which the vision callable ran

`follow_ups`: the queries with a previous turn (spoken and typed), whichever expert needs them.

Real recordings (../shared/data/speech, LibriVox read speech with reference transcripts):
transcript_cer per front end and VAD boundary error against a reference from pocketsphinx
forced alignment of the known transcript (first word start, last word end).
"""
from __future__ import annotations

import json
import math
import sys
import time
from pathlib import Path

import numpy as np
import torch
from safetensors.torch import load_file

from tristream_ros.data.dataset import DatasetReader
from tristream_ros.data.scenes import render_scene, spec_from_dict
from tristream_ros.errors import InputError
from tristream_ros.model.checkpoint import load_checkpoint
from tristream_ros.model.config import ACTIONS, ROUTES
from tristream_ros.model.speech.command_wrappers import COMMAND_WRAPPERS_DEFAULT
from tristream_ros.model.speech.decoder_process import WRAPPER_PROCESS_DEFAULT
from tristream_ros.model.speech.speech_model import RECOGNIZER_FILE, SpeechModel
from tristream_ros.model.text_tokenizer import normalize
from tristream_ros.model.tristream_model import Action, Done, Query, RouteChosen, TextDelta
from tristream_ros.training.cache import char_error_rate, default_pocketsphinx_config
from tristream_ros.training.phase2_alignment import SPEECH_FILE, needed_route

REAL_SPEECH_DIR = Path(__file__).resolve().parents[3] / "shared" / "data" / "speech"
SCENE_ROUTES = ("speech_vision", "trimodal")


def load_speech_model(model_dir: str | Path, config, file: str = SPEECH_FILE) -> SpeechModel:
    speech = SpeechModel(config.speech)
    speech.load_state_dict(load_file(str(Path(model_dir) / file)))
    return speech.eval()


def load_recognizer(model_dir: str | Path | None) -> SpeechModel | None:
    """The front end's separate recogniser in `model_dir` (RECOGNIZER_FILE), None when it has none."""
    if model_dir is None or not (Path(model_dir) / RECOGNIZER_FILE).is_file():
        return None
    from tristream_ros.model.checkpoint import load_config
    return load_speech_model(model_dir, load_config(model_dir), RECOGNIZER_FILE)


def build_frontend(speech: SpeechModel, kind: str = "hybrid", model_dir: str | Path | None = None,
                   tokens_from: str = "respoken", vad=None, recognizer_dir: str | Path | None = None,
                   command_wrappers: bool = COMMAND_WRAPPERS_DEFAULT, wrapper_process: bool = WRAPPER_PROCESS_DEFAULT,
                   voice_gate: bool = True):
    """The speech_tokenizer_node's default front end (config/tristream.yaml), built by the same
    function the node uses: pocketsphinx with a grammar of the queries users say, and for
    `hybrid` our encoder's CTC scoring the same sentences with the override thresholds
    calibrated for the model in `model_dir` (model/speech/ctc_grammar.load_grammar_thresholds).
    kind `hybrid_lm`: the hybrid with pocketsphinx's bigram LM over queries + answers instead
    (no CTC grammar). tokens_from: the hybrid's speech tokens, respoken (default, as the node) | audio.
    vad: a VadConfig (None: the defaults, as the node). The hybrid recognises with `model_dir`'s
    separate recogniser when it has one (RECOGNIZER_FILE, respoken tokens only), as the node does
    (`recognizer_dir`: look for it there instead, e.g. with the module's default thresholds).
    command_wrappers: the grammar's optional "robot", "please", ... around a sentence, as the node
    (model/speech/command_wrappers.py; calibrate_grammar turns them off: it calibrates the grammar's
    own sentences); wrapper_process: the wrapper decoder in a child process, as the node
    (model/speech/decoder_process.py; the same words either way); voice_gate: `model_dir`'s voice
    gate (VOICE_GATE_FILE, model/speech/voice_gate.py) when it has one, as the node."""
    from tristream_ros.model.speech.ctc_grammar import load_grammar_thresholds
    from tristream_ros.model.speech.frontend import configured_frontend
    from tristream_ros.model.speech.voice_gate import load_voice_gate
    thresholds = load_grammar_thresholds(model_dir)
    gate = load_voice_gate(model_dir) if voice_gate and kind == "hybrid" else None
    recognizer = load_recognizer(recognizer_dir or model_dir) if kind in ("hybrid", "hybrid_lm") else None
    if kind == "hybrid_lm":
        return configured_frontend("hybrid", speech, vocabulary="domain", mode="lm", ctc_grammar="none",
                                   thresholds=thresholds, tokens_from=tokens_from, vad=vad, recognizer=recognizer)
    return configured_frontend(kind, speech if kind != "pocketsphinx" else None, thresholds=thresholds,
                               tokens_from=tokens_from, vad=vad, recognizer=recognizer,
                               command_wrappers=command_wrappers, wrapper_process=wrapper_process,
                               voice_gate=gate)


def run_query(model, text: str, tokens, frames, context: str | None, dense: bool, camera: bool = True) -> dict:
    """One answer() call -> {route, action, target, text, vision_calls, flops, latency_ms}."""
    calls = [0]

    def vision():
        calls[0] += 1
        model.vision.reset()
        tokens = model.encode_vision(frames, dense=dense)
        out["keep"] = tokens.keep_ratio
        return tokens

    q = Query(text=text, speech_tokens=tokens, vision=vision if camera else None, context_text=context or None)
    out = {"route": None, "action": None, "target": None, "text": "", "keep": None}
    words = []
    for ev in model.answer(q):
        if isinstance(ev, RouteChosen):
            out["route"] = ev.route
        elif isinstance(ev, Action):
            out["action"], out["target"] = ev.name, ev.target_uv
        elif isinstance(ev, TextDelta):
            words.append(ev.text)
        elif isinstance(ev, Done):
            out["flops"] = ev.flops
            out["latency_ms"] = ev.latencies_ms
    out["text"] = normalize("".join(words))
    out["vision_calls"] = calls[0]
    return out


def _names_heldout_combo(answer: str) -> bool:
    """Does the answer name a (colour, kind) pair that never occurs in training scenes?"""
    from tristream_ros.data.dataset import HELDOUT_COMBOS
    text = f" {normalize(answer)} "
    return any(f" {c} {k}" in text for c, k in HELDOUT_COMBOS)


MOVING_ACTIONS = frozenset(ACTIONS) - {"stop", "none"}  # the action head's actions that move the robot


def _score(rows: list[dict], preds: list[dict]) -> dict:
    n = len(rows)
    if n == 0:
        return {"n": 0}
    em = [normalize(r["answer"]) == p["text"] for r, p in zip(rows, preds)]
    act = [r["action"] == p["action"] for r, p in zip(rows, preds)]
    route = [r["need"] == p["route"] for r, p in zip(rows, preds)]
    terr, tmiss = [], []
    for r, p in zip(rows, preds):
        if r.get("target_uv") is not None:
            if p["target"] is None:
                tmiss.append(1.0)
            else:
                tmiss.append(0.0)
                terr.append(math.dist(r["target_uv"], p["target"]))
    # the robot moved and should not have moved that way (a wrong motion, not a missing one)
    wrong_motion = [p["action"] in MOVING_ACTIONS and p["action"] != r["action"] for r, p in zip(rows, preds)]
    res = {"n": n, "answer_exact_match": float(np.mean(em)), "action_accuracy": float(np.mean(act)),
           "wrong_motion": float(np.mean(wrong_motion)),
           "route_cheapest_sufficient": float(np.mean(route)),
           "vision_touched": float(np.mean([p["vision_calls"] > 0 for p in preds]))}
    if tmiss:
        res["target_error"] = float(np.mean(terr)) if terr else None
        res["target_missing"] = float(np.mean(tmiss))
    return res


def attribute_readout(model, rows: list[dict], frames_of) -> dict | None:
    """How well the copy head's attribute probe names what each object token shows, on the
    split's scenes (all tokens, dense): colour / kind accuracy over tokens an object covers
    (renderer ground truth, phase 1's token_labels), split by objects of a held-out colour/kind
    pair vs the training pairs. None without a copy head."""
    from tristream_ros.data.dataset import HELDOUT_COMBOS
    from tristream_ros.training.phase1_contrastive import COLOUR_NAMES, token_labels
    from tristream_ros.data.scenes import KINDS
    if model.copy_head is None:
        return None
    cc, vc = model.config.copy, model.config.vision
    hits = {k: [[], []] for k in ("all", "heldout_pair", "train_pair")}  # [colour ok], [kind ok]
    with torch.no_grad():
        for i, row in enumerate(rows):
            model.vision.reset()
            tok = model.encode_vision(frames_of(i), dense=True)
            c_logits, k_logits = model.copy_head.probe(tok.features[None].float(), tok.rows[None], tok.cols[None])
            order = (tok.rows * tok.grid_hw[1] + tok.cols).numpy()  # grid cell of each token
            colour, kind, _ = token_labels(row["objects"], tok.grid_hw, vc.image_size)
            pc, pk = c_logits[0].argmax(-1).numpy(), k_logits[0].argmax(-1).numpy()
            for j, cell in enumerate(order):
                if kind[cell] == 0:
                    continue
                name_c, name_k = COLOUR_NAMES[colour[cell] - 1], KINDS[kind[cell] - 1]
                ok_c = cc.colours[pc[j] - 1] == name_c if pc[j] > 0 else False
                ok_k = cc.kinds[pk[j] - 1] == name_k if pk[j] > 0 else False
                for key in ("all", "heldout_pair" if (name_c, name_k) in HELDOUT_COMBOS else "train_pair"):
                    hits[key][0].append(ok_c)
                    hits[key][1].append(ok_k)
    return {k: {"object_tokens": len(v[0]), "colour_accuracy": float(np.mean(v[0])) if v[0] else None,
                "kind_accuracy": float(np.mean(v[1])) if v[1] else None} for k, v in hits.items()}


def count_readout(model, rows: list[dict], frames_of) -> dict | None:
    """How well the copy head's count read-out counts each kind on the split's scenes (each
    scene once), from the sparse budget's tokens and from all tokens: accuracy per (scene, kind)
    and on kinds present two or more times (training/count_readout.count_accuracy). None
    without a count read-out."""
    from tristream_ros.model.heads.copy_head import MAX_COUNT
    from tristream_ros.training.count_readout import count_accuracy
    head = model.copy_head
    if head is None or head.count is None:
        return None
    kinds = model.config.copy.kinds
    seen, counts, grids = set(), [], {"sparse": [], "dense": []}
    with torch.no_grad():
        for i, row in enumerate(rows):
            key = json.dumps(row["scene"], sort_keys=True)
            if key in seen:
                continue
            seen.add(key)
            counts.append([sum(o["kind"] == k for o in row["objects"]) for k in kinds])
            frames = frames_of(i)  # rendered once, encoded with the budget and with all tokens
            for name in grids:
                model.vision.reset()
                tok = model.encode_vision(frames, dense=name == "dense")
                mask = torch.ones(1, tok.features.shape[0], dtype=torch.bool)
                attrs = head.attributes(tok.features[None].float(), tok.rows[None], tok.cols[None], mask)
                grids[name].append(head.kind_grid(attrs, mask))
    truth = torch.tensor(counts).clamp(max=MAX_COUNT)
    return {name: count_accuracy(head.count, torch.cat(g), truth) for name, g in grids.items()}


def evaluate_split(model_dir: str | Path, data_dir: str | Path, split: str = "test", limit: int | None = None,
                   frontend: str = "hybrid", progress: bool = True, keep_predictions: bool = False,
                   tokens_from: str = "respoken", command_wrappers: bool = COMMAND_WRAPPERS_DEFAULT) -> dict:
    t0 = time.perf_counter()
    model = load_checkpoint(model_dir)
    speech = load_speech_model(model_dir, model.config)
    # diagnostics: the true query text + our speech tokens (no ASR errors), or + the speech tokens
    # of the previous spoken sample ("foreign": tokens that do not match, as an unfamiliar voice's might)
    oracle = frontend in ("oracle_text", "oracle_text_foreign_tokens")
    foreign = frontend == "oracle_text_foreign_tokens"
    prev_tokens = None
    tok = build_frontend(speech, "ctc" if oracle else frontend, model_dir, tokens_from,
                         command_wrappers=command_wrappers)
    reader = DatasetReader(data_dir, split)  # read only: nothing is written beside the model or the data
    n = len(reader) if limit is None else min(limit, len(reader))
    rows, sparse, dense, nocam = [], [], [], []
    cer_ps, cer_ctc, no_utt, rejected, keep = [], [], 0, 0, []
    it = range(n)
    if progress:
        from tqdm import tqdm
        it = tqdm(it, desc=f"eval {split}", unit="sample", mininterval=2.0)
    for i in it:
        s = reader[i]
        row = {k: v for k, v in s.items() if k not in ("frames", "audio")}
        row["need"] = needed_route(row, model.config.fusion)  # the cheapest sufficient expert
        text, tokens = s["query"], None
        if s["audio"] is not None:
            utt = tok.transcribe(s["audio"])
            if utt is None:
                no_utt += 1
                heard, text, tokens = "", "", None
            else:
                cer_ctc.append(char_error_rate(s["query"], utt.ctc_text))
                if not utt.understood:  # rejected as out of domain: the speech node forwards no query
                    rejected += 1
                    heard, text, tokens = utt.text, "", None
                else:
                    text = s["query"] if oracle else utt.text
                    tokens = utt.tokens if utt.tokens.numel() else None
                    if foreign:
                        tokens, prev_tokens = (prev_tokens if prev_tokens is not None else tokens), tokens
                    heard = text
            cer_ps.append(char_error_rate(s["query"], heard))
            row["heard"] = heard
        if not text and tokens is None:
            pred = {"route": None, "action": None, "target": None, "text": "", "vision_calls": 0}
            sparse.append(pred), dense.append(pred)
        else:
            sparse.append(run_query(model, text, tokens, s["frames"], s.get("context"), dense=False))
            dense.append(run_query(model, text, tokens, s["frames"], s.get("context"), dense=True))
            if sparse[-1].get("keep") is not None:
                keep.append(sparse[-1]["keep"])
        if row["need"] == "speech":
            nocam.append(run_query(model, text, tokens, None, s.get("context"), dense=False, camera=False)
                         if (text or tokens is not None) else sparse[-1])
        rows.append(row)
    report = {"split": split, "n": n, "frontend": frontend, "no_utterance_detected": no_utt,
              "not_understood": rejected,
              "transcript_cer": float(np.mean(cer_ps)) if cer_ps else None,
              "ctc_transcript_cer": float(np.mean(cer_ctc)) if cer_ctc else None}
    by_route = {}
    for r in ROUTES:
        sel = [j for j, row in enumerate(rows) if row["need"] == r]
        sc = _score([rows[j] for j in sel], [sparse[j] for j in sel])
        dn = _score([rows[j] for j in sel], [dense[j] for j in sel])
        if sc.get("n"):
            sc["dense"] = {k: dn[k] for k in ("answer_exact_match", "action_accuracy") if k in dn}
            spoken = [j for j in sel if rows[j].get("spoken")]
            if spoken:
                sc["transcript_cer"] = float(np.mean([char_error_rate(rows[j]["query"], rows[j]["heard"]) for j in spoken]))
        by_route[r] = sc
    report["routes"] = by_route
    report["overall"] = _score(rows, sparse)
    report["overall"]["dense"] = {k: v for k, v in _score(rows, dense).items() if k in ("answer_exact_match", "action_accuracy")}
    scene = [j for j, row in enumerate(rows) if row.get("spoken") and row["need"] in SCENE_ROUTES]
    report["spoken_scene_questions"] = _score([rows[j] for j in scene], [sparse[j] for j in scene])
    report["spoken_scene_questions"]["dense"] = {
        k: v for k, v in _score([rows[j] for j in scene], [dense[j] for j in scene]).items()
        if k in ("answer_exact_match", "action_accuracy")}
    for name, want in (("answer_names_heldout_combo", True), ("answer_names_no_heldout_combo", False)):
        sel = [j for j in scene if _names_heldout_combo(rows[j]["answer"]) == want]
        report["spoken_scene_questions"][name] = _score([rows[j] for j in sel], [sparse[j] for j in sel])
    by_intent = {}
    for intent in sorted({rows[j].get("intent") for j in scene if rows[j].get("intent")}):
        sel = [j for j in scene if rows[j].get("intent") == intent]
        sc = _score([rows[j] for j in sel], [sparse[j] for j in sel])
        by_intent[intent] = {k: sc[k] for k in ("n", "answer_exact_match", "action_accuracy")}
    report["spoken_scene_questions"]["by_intent"] = by_intent
    # follow-ups (a previous turn given): which expert answers them is fusion.context_routes'
    # choice, so they are also reported on their own (spoken and typed)
    fol = [j for j, row in enumerate(rows) if row.get("context")]
    report["follow_ups"] = _score([rows[j] for j in fol], [sparse[j] for j in fol])
    report["follow_ups"]["needed_routes"] = sorted({rows[j]["need"] for j in fol})
    sp = [j for j, row in enumerate(rows) if row["need"] == "speech"]
    report["speech_commands_no_camera"] = _score([rows[j] for j in sp], nocam)
    report["vision_keep_ratio"] = float(np.mean(keep)) if keep else None
    report["vision_attribute_readout"] = attribute_readout(
        model, rows, lambda i: render_scene(spec_from_dict(rows[i]["scene"])).frames)
    report["vision_count_readout"] = count_readout(
        model, rows, lambda i: render_scene(spec_from_dict(rows[i]["scene"])).frames)
    report["seconds"] = round(time.perf_counter() - t0, 1)
    if keep_predictions:
        report["predictions"] = [{"id": r["id"], "heard": r.get("heard"), "query": r["query"], "answer": r["answer"],
                                  "pred": p["text"], "pred_dense": d["text"], "action": r["action"],
                                  "pred_action": p["action"], "route": r["need"], "pred_route": p["route"]}
                                 for r, p, d in zip(rows, sparse, dense)]
    return report


def evaluate_real(model_dir: str | Path, speech_dir: str | Path = REAL_SPEECH_DIR,
                  command_wrappers: bool = COMMAND_WRAPPERS_DEFAULT) -> dict:
    """Transcript CER per front end and VAD boundary error on real recordings: the audio files
    of ``speech_dir`` that have a TXT reference beside them (any format signal/audio_file reads).
    command_wrappers: as build_frontend, for the hybrid front ends with a grammar."""
    from pocketsphinx import Decoder

    from tristream_ros.model.speech.vad import speech_segments
    from tristream_ros.signal.audio_file import audio_files, load_audio
    from tristream_ros.model.tristream_model import TriStreamModel  # noqa: F401  (import check)

    import tempfile

    from tristream_ros.data.language import all_queries
    from tristream_ros.model.speech.ctc_grammar import load_grammar_thresholds
    from tristream_ros.model.speech.frontend import configured_frontend

    model = load_checkpoint(model_dir)
    speech = load_speech_model(model_dir, model.config)
    wavs = [f for f in audio_files(speech_dir) if f.with_suffix(".txt").is_file()]
    fronts = {"hybrid_default": build_frontend(speech, "hybrid", model_dir, command_wrappers=command_wrappers),
              "hybrid_domain_lm": build_frontend(speech, "hybrid_lm", model_dir),
              "ctc": build_frontend(speech, "ctc", model_dir)}
    from tristream_ros.model.speech.pocketsphinx_frontend import PocketsphinxConfig
    from tristream_ros.model.speech.tokenizer import build_speech_tokenizer
    fronts["pocketsphinx_general_lm"] = build_speech_tokenizer("pocketsphinx", None, PocketsphinxConfig())
    # the default hybrid (the model's override + rescoring) with the recordings' own sentences
    # added to both grammars, as a user adds commands: real voices into a grammar that holds
    # what they said (the pocketsphinx `vocabulary` / `ctc_grammar` PATH settings)
    # A reference with a word pocketsphinx's dictionary lacks (a name, a misspelling) cannot join
    # that grammar, nor be force-aligned for the VAD reference: it is left out of both and listed.
    from tristream_ros.model.speech.pocketsphinx_frontend import sentence_words, unknown_words

    raw_refs = {w: w.with_suffix(".txt").read_text().strip() for w in wavs}
    refs = {w: normalize(r) for w, r in raw_refs.items()}
    # one pass over the dictionary for every reference's words (it is read whole per call)
    missing = set(unknown_words(sorted({x for r in refs.values() for x in sentence_words(r)})))
    unknown = {w: [x for x in sorted(set(sentence_words(r))) if x in missing] for w, r in refs.items()}
    unknown = {w: u for w, u in unknown.items() if u}
    with tempfile.TemporaryDirectory(prefix="tristream_real_") as tmp:
        sentences = Path(tmp) / "sentences.txt"
        known_refs = [r for w, r in refs.items() if w not in unknown and sentence_words(r)]
        sentences.write_text("\n".join(all_queries() + known_refs) + "\n")
        fronts["hybrid_grammar_with_references"] = configured_frontend(
            "hybrid", speech, vocabulary=str(sentences), ctc_grammar=str(sentences),
            thresholds=load_grammar_thresholds(model_dir), command_wrappers=command_wrappers)
    per_file, cers = [], {k: [] for k in fronts}
    exact = {k: [] for k in fronts}
    start_err, end_err = [], []
    not_aligned: list[str] = []  # files whose reference pocketsphinx could not align
    for wav in wavs:
        ref = raw_refs[wav]
        try:
            audio = load_audio(wav)
        except InputError as exc:  # reported (evaluate_domain.evaluate_folder lists it), not fatal
            print(f"evaluate_real: skipping {wav.name}: {exc}", file=sys.stderr)
            continue
        entry = {"file": wav.name, "reference": normalize(ref)}
        for name, fe in fronts.items():
            utt = fe.transcribe(audio)
            hyp = utt.text if utt is not None else ""
            entry[name] = hyp
            cers[name].append(char_error_rate(ref, hyp))
            exact[name].append(normalize(hyp) == normalize(ref))
        if wav in unknown:
            entry["reference_words_not_in_dictionary"] = unknown[wav]
            per_file.append(entry)
            continue
        # reference boundaries: forced alignment of the known transcript (real-speech acoustic model)
        dec = Decoder(samprate=16000, loglevel="FATAL")
        dec.set_align_text(normalize(ref))
        dec.start_utt()
        dec.process_raw((np.clip(audio, -1, 1) * 32767).astype("<i2").tobytes(), full_utt=True)
        dec.end_utt()
        # seg() is None when no path aligns the reference with the audio (a 0.5 s word-spliced
        # recording did, session 22): the file then has no reference boundaries, and is listed
        words = [(s.start_frame / 100.0, (s.end_frame + 1) / 100.0) for s in (dec.seg() or ())
                 if not s.word.startswith(("<", "["))]
        if not words:
            not_aligned.append(wav.name)
        segs = speech_segments(audio)
        if words and segs:
            ref_s, ref_e = words[0][0], words[-1][1]
            vad_s, vad_e = segs[0][0], segs[-1][1]
            entry.update(ref_start_s=ref_s, ref_end_s=ref_e, vad_start_s=vad_s, vad_end_s=vad_e,
                         vad_segments=len(segs))
            start_err.append(abs(vad_s - ref_s))
            end_err.append(abs(vad_e - ref_e))
        per_file.append(entry)
    return {"files": len(per_file),
            "references_not_in_dictionary": sorted(w.name for w in unknown),
            "references_not_aligned": not_aligned,
            "transcript_cer": {k: float(np.mean(v)) for k, v in cers.items()},
            "transcript_exact": {k: float(np.mean(v)) for k, v in exact.items()},
            "vad_start_error_ms": 1000 * float(np.mean(start_err)) if start_err else None,
            "vad_end_error_ms": 1000 * float(np.mean(end_err)) if end_err else None,
            "vad_reference": "pocketsphinx forced alignment of the reference transcript (first word start, last word end)",
            "per_file": per_file}
