"""Session 26: calibrate_grammar's guard widened from flite's clean voices to flite, Pico and
Festival, clean and in test-split rooms, each family held on its own (guard_kept), measured on the
shipped recogniser and not shipped. Summarised into summary.json from the run outputs:

- /tmp/s25/calibB.json: `calibrate_grammar --model M --data /tmp/s12/val800 --out ...` (the
  shipped model's records: 680 val, 120 flite guard, 50 + 6 out-of-domain), session 25's code;
- /tmp/s25/guardB.json: guardrecs.py M OUT flite,pico,festival 24 1 (the same queries clean and
  in rooms, each engine); /tmp/s26/guardshortB.json: guardrecs.py M OUT flite,pico,festival 0 1 short (the 14 short forms);
- /tmp/s26/merged.json / merged2.json: calibB's records + those (without guardB's duplicate
  clean flite); C = `calibrate_grammar --model mC --records merged.json --write` (all six
  families, default margin), D = the same on merged2.json (short forms too);
- C's held-out evaluations: evalsA.sh / evalsB.sh (-> /tmp/s24/C_*); the shipped model's (B) are
  session 23-25's runs (/tmp/s23/B_*, /tmp/s24/B_real355.json, /tmp/s25_B_spliced_dom.json,
  models/demo/eval.json) and the README's 800-set figures (session 19's run).
Copies no figure by hand except the shipped 800-set line (that run's JSON is gone)."""
import dataclasses
import json
import os
import sys

sys.path.insert(0, "/work/main")
from tristream_ros.model.speech.ctc_grammar import load_grammar_thresholds  # noqa: E402
from tristream_ros.training.calibrate_grammar import guard_groups, kept  # noqa: E402

MOVES = ("forward", "backward", "turn_left", "turn_right", "navigate_to", "look_at")


def load(p):
    return json.load(open(p)) if os.path.exists(p) else None


def engine(r):
    o = r["overall"]
    return {k: o[k] for k in ("n", "answer_exact_match", "action_accuracy", "transcript_exact", "not_understood")}


def split(r):
    s = r["split"]
    pick = lambda d: {k: d[k] for k in ("n", "answer_exact_match", "action_accuracy") if k in d}
    return {"spoken_scene_questions": pick(s["spoken_scene_questions"]), "overall": pick(s["overall"]),
            "speech_commands_no_camera": pick(s["speech_commands_no_camera"]),
            "transcript_cer": s["transcript_cer"], "not_understood": s["not_understood"]}


def thresholds(folder):
    t = load_grammar_thresholds(folder)
    return tuple(getattr(t, f.name) for f in dataclasses.fields(t))


out = {"what": __doc__.split("\n\n")[0].replace("\n", " "),
       "shipped_800_sample_set": "README (session 19): spoken scene 0.865 / 0.961, overall 0.898 / 0.961, "
                                 "no camera 0.938 / 0.946, CER 0.051",
       "runs": {}}
files = {"B": {"engine": "/tmp/s23/B_{}.json", "test240": "/work/main/models/demo/eval.json",
               "spliced": "/tmp/s25_B_spliced_dom.json", "real355": "/tmp/s24/B_real355.json"},
         "C": {"engine": "/tmp/s24/C_{}.json", "test240": "/tmp/s24/C_eval240.json", "test800": "/tmp/s24/C_eval800.json",
               "spliced": "/tmp/s24/C_spliced_dom.json", "real355": "/tmp/s24/C_real355.json"}}
for tag, f in files.items():
    r = {}
    for e in ("pico", "flite", "festival"):
        for suf in ("", "_short", "_room"):
            d = load(f["engine"].format(e + suf))
            if d:
                r[f"{e}{suf}"] = engine(d)
    for name in ("test240", "test800"):
        d = load(f.get(name, ""))
        if d:
            r[name] = split(d)
    d = load(f["spliced"])
    if d:
        r["spliced_real_voice"] = {k: d[k] for k in ("n", "not_understood", "moved_the_robot", "heard_exact",
                                                    "action_as_reference", "wrong_motions")}
    d = load(f["real355"])
    if d:  # (docs/real_speech/experiments/realrun.py's rows)
        r["real_out_of_domain_355"] = {"n": len(d), "not_understood": sum(not x["understood"] for x in d),
                                       "moved_the_robot": sum(x["action"] in MOVES for x in d)}
    out["runs"][tag] = r
# the guard families on the calibration records: pocketsphinx alone, shipped (B), C and D
recs = load("/tmp/s26/merged2.json")["records"]
groups = guard_groups([r for r in recs if r["source"].split(":")[0] not in ("val", "ood", "real")])
groups["val"] = [r for r in recs if r["source"].startswith("val:")]
groups["spliced_real_voice"] = load("/tmp/s25_recsB_spliced.json")
ths = {"pocketsphinx_alone": (float("inf"),) * 3, "B": thresholds("/work/main/models/demo"),
       "C": thresholds("/tmp/s26/mC"), "D": thresholds("/tmp/s26/mD")}
out["kept_exact_on_records"] = {g: {"n": len(rs), **{k: round(kept(rs, *t), 4) for k, t in ths.items()}}
                                for g, rs in groups.items()}
for tag, folder in (("C", "/tmp/s26/mC"), ("D", "/tmp/s26/mD")):
    out[f"thresholds_{tag}"] = json.load(open(f"{folder}/ctc_grammar.json"))
json.dump(out, open(os.path.join(os.path.dirname(os.path.abspath(__file__)), "summary.json"), "w"), indent=1)
print(json.dumps(out["kept_exact_on_records"], indent=0)[:3000])
