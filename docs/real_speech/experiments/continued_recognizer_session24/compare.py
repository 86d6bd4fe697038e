import json, os, sys
def L(p):
    return json.load(open(p)) if os.path.exists(p) else None
tags = sys.argv[1:] or ["W"]
def ov(r):
    o = r["overall"]; return f"exact {o['answer_exact_match']:.3f} action {o['action_accuracy']:.3f} transcript {o['transcript_exact']:.3f} notund {o['not_understood']} n {o['n']}"
for e in ("pico", "flite", "festival"):
    for s in ("", "_short", "_room"):
        b = L(f"/tmp/s23/B_{e}{s}.json")
        print(f"{e+s:16s} base: {ov(b) if b else '-'}")
        for t in tags:
            p = L(f"/tmp/s24/{t}_{e}{s}.json")
            if p: print(f"{'':16s} {t:5s}: {ov(p)}")
def sp(r):
    s = r["split"]; q = s["spoken_scene_questions"]; o = s["overall"]; c = s["speech_commands_no_camera"]
    return (f"ssq {q['answer_exact_match']:.3f}/{q['action_accuracy']:.3f} overall {o['answer_exact_match']:.3f}/{o['action_accuracy']:.3f} "
            f"nocam {c.get('answer_exact_match',0):.3f}/{c.get('action_accuracy',0):.3f} cer {s['transcript_cer']:.4f} notund {s['not_understood']}")
print("test240 base ", sp(L("/work/main/models/demo/eval.json")))
for t in tags:
    p = L(f"/tmp/s24/{t}_eval240.json")
    if p: print(f"test240 {t:5s}", sp(p))
    p = L(f"/tmp/s24/{t}_eval800.json")
    if p: print(f"800 {t:5s}", sp(p))
    p = L(f"/tmp/s24/{t}_spliced.json")
    if p:
        rr = p["real_recordings"]; print(f"spliced {t}", rr["transcript_exact"]["hybrid_default"], rr["transcript_cer"]["hybrid_default"])
