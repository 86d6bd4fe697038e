import json, collections, re, sys
sys.path.insert(0, "/work/main")
exp = {'back up':'backward','backwards':'backward','forward':'forward','forward please':'forward','left':'turn_left','right':'turn_right','help':'none','go forward ten meters':'forward'}
out = {}
for tag in ("off", "on"):
    rows = json.load(open(f"/tmp/s22/sweep_{tag}.json"))
    c = collections.defaultdict(lambda: [0, 0, 0])
    for r in rows:
        g = int(re.search(r"_g(-?\d+)\.wav", r["file"]).group(1))
        ref = open("/tmp/s22/sweep/" + r["file"].replace(".wav", ".txt")).read().strip()
        c[g][0] += 1; c[g][1] += r["action"] == exp[ref]
        c[g][2] += r["action"] in ("forward", "backward", "turn_left", "turn_right") and r["action"] != exp[ref]
    out[tag] = c
print("gain dB | make-up off: right / wrong motion | on: right / wrong motion (of 15)")
for g in sorted(out["on"], reverse=True):
    print(f"{g:7d} | {out['off'][g][1]:3d} / {out['off'][g][2]:2d} | {out['on'][g][1]:3d} / {out['on'][g][2]:2d}")
json.dump({t: {g: dict(zip(("n", "right", "wrong_motion"), v)) for g, v in c.items()} for t, c in out.items()},
          open("/tmp/s22/sweep_table.json", "w"), indent=1)
