"""Session 27: command wrappers ("robot stop", "turn left please", "can you ..."): a second
pocketsphinx decoder with the wrappers (model/speech/command_wrappers.py), shipped model and
thresholds unchanged. Summarised into summary.json from the run outputs:

- W: evalsA.sh / evalsB.sh with the wrappers on -> /tmp/s27/W_*: spliced
  real-voice commands, the test split (240), the 800-sample set (seed 21), the 355 real
  out-of-domain recordings, every Pico / flite / Festival voice on held-out queries (clean,
  short forms, test-split rooms) and on the same queries wrapped (`--wrapped`), with the
  wrappers on and off (`--no-command-wrappers`: the front end before this session). These ran
  while the session's code had the wrappers on by default (build_frontend's command_wrappers);
  the default was then turned off, so repeating them needs command_wrappers=True /
  `--command-wrappers`. The first run had a bug (the plain decoder could not align the wrapper
  words: every wrapped utterance's alignments were -inf); the 800-sample set run was stopped;
- F: the fixed front end (aligner with the wrapper words, CTC on the command's frames):
  evalsD.sh ENGINE...: the wrapped queries on and off, with predictions (wrong motions);
  evalsE.sh a|b|c: the spliced commands, the test split, the 355 real out-of-domain recordings
  with the wrappers on (build_frontend patched to command_wrappers=True);
- B: the same model and front end before this session: session 23-25's runs (/tmp/s23/B_*,
  /tmp/s24/B_real355.json, /tmp/s25_B_spliced_dom.json, models/demo/eval.json) and the README's 800-set figures (session 19's run);
- harness.py / dual.py: pocketsphinx alone (plain grammar, one grammar with the wrappers at
  weights 1 .. 1e-30, and two decoders) on 200 val utterances, the 100 spliced commands and 80
  wrapped commands of ten engine voices (seed 5) -> /tmp/s27/harness_*.json;
- wrapped_probe.py: 18 hand-written natural commands ("robot stop", "please go back", "move
  backwards", "go to the left") x ten engine voices -> /tmp/s27/wrapped(_on|_final).log.
Copies no figure by hand except the shipped 800-set line (that run's JSON is gone)."""
import json
import os

MOVES = ("forward", "backward", "turn_left", "turn_right", "navigate_to", "look_at")


def load(p):
    return json.load(open(p)) if os.path.exists(p) else None


def engine(r):
    o = r["overall"]
    out = {k: o[k] for k in ("n", "answer_exact_match", "action_accuracy", "transcript_exact", "not_understood")}
    if "predictions" in r:  # evalsC.sh's runs keep them: wrong motions of the engine's voices
        out["wrong_motions"] = sum(x["pred_action"] in MOVES and x["pred_action"] != x["action"]
                                   for v, rows in r["predictions"].items() if v != "espeak_reference" for x in rows)
    return out


def split(r):
    s = r["split"]
    pick = lambda d: {k: d[k] for k in ("n", "answer_exact_match", "action_accuracy") if k in d}
    return {"spoken_scene_questions": pick(s["spoken_scene_questions"]), "overall": pick(s["overall"]),
            "speech_commands_no_camera": pick(s["speech_commands_no_camera"]),
            "transcript_cer": s["transcript_cer"], "not_understood": s["not_understood"]}


def real355(rows):
    return {"n": len(rows), "not_understood": sum(r["action"] is None for r in rows),
            "moved_the_robot": sum(r["action"] in MOVES for r in rows)}


def spliced(r):
    return {k: r[k] for k in ("n", "not_understood", "moved_the_robot", "heard_exact", "action_as_reference",
                              "wrong_motions")}


out = {"what": __doc__.split("\n\n")[0].replace("\n", " "),
       "shipped_800_sample_set_before": "README (session 19): spoken scene 0.865 / 0.961, overall 0.898 / 0.961, "
                                        "no camera 0.938 / 0.946, CER 0.051",
       "runs": {}}
files = {"B": {"engine": "/tmp/s23/B_{}.json", "test240": "/work/main/models/demo/eval.json",
               "spliced": "/tmp/s25_B_spliced_dom.json", "real355": "/tmp/s24/B_real355.json"},
         "W": {"engine": "/tmp/s27/W_{}.json", "test240": "/tmp/s27/W_eval240.json", "test800": "/tmp/s27/W_eval800.json",
               "spliced": "/tmp/s27/W_spliced_dom.json", "real355": "/tmp/s27/W_real355.json"},
         "F": {"engine": "/tmp/s27/F_{}.json", "test240": "/tmp/s27/F_eval240.json",
               "spliced": "/tmp/s27/F_spliced_dom.json", "real355": "/tmp/s27/F_real355.json"}}
for tag, f in files.items():
    r = {}
    for e in ("pico", "flite", "festival"):
        for suffix in ("", "_short", "_room", "_wrapped", "_wrapped_off"):
            x = load(f["engine"].format(e + suffix))
            if x:
                r[e + suffix] = engine(x)
    for name in ("test240", "test800"):
        x = load(f.get(name, ""))
        if x:
            r[name] = split(x)
    x = load(f["spliced"])
    if x:
        r["spliced_real_voice"] = spliced(x)
    x = load(f["real355"])
    if x:
        r["real_out_of_domain_355"] = real355(x)
    out["runs"][tag] = r
for tag in ("harness_plain", "harness_1.0", "harness_0.0001", "harness_1e-12", "harness_1e-30", "harness_plain_final",
            "harness_final"):
    x = load(f"/tmp/s27/{tag}.json")
    if x:
        res = {}
        for kind, _ref, _heard, ok in x:
            res.setdefault(kind, [0, 0])
            res[kind][0] += bool(ok)
            res[kind][1] += 1
        out.setdefault("pocketsphinx_alone_one_grammar", {})[tag] = {k: f"{a}/{b}" for k, (a, b) in res.items()}
json.dump(out, open(os.path.join(os.path.dirname(os.path.abspath(__file__)), "summary.json"), "w"), indent=1)
print(json.dumps(out, indent=1))
