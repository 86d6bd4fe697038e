"""Session 26: per-object colour / kind confusion of the shipped probe on a dataset split (all tokens,
dense; each object's majority vote over the tokens it covers; the first N scenes).

    python probe_confusion.py /tmp/s12/test800 test 300 [MODEL_DIR]"""
import json, sys, collections
import numpy as np, torch
torch.set_num_threads(2)
sys.path.insert(0, "/work/main")
from tristream_ros.training.ship import load_shipped
from tristream_ros.data.dataset import DatasetReader, HELDOUT_COMBOS
from tristream_ros.data.scenes import render_scene, spec_from_dict, KINDS
from tristream_ros.training.phase1_contrastive import COLOUR_NAMES, token_labels
model, _ = load_shipped(sys.argv[4] if len(sys.argv) > 4 else "/work/main/models/demo")
model.eval()
data, split = sys.argv[1], sys.argv[2]
reader = DatasetReader(data, split, load_arrays=False)
cc, vc = model.config.copy, model.config.vision
pair_err = collections.Counter(); pair_tot = collections.Counter(); seen = set(); conf_c = collections.Counter(); conf_k = collections.Counter(); n = 0
with torch.no_grad():
    for i in range(len(reader)):
        row = reader[i]
        key = json.dumps(row["scene"], sort_keys=True)
        if key in seen: continue
        seen.add(key)
        model.vision.reset()
        tok = model.encode_vision(render_scene(spec_from_dict(row["scene"])).frames, dense=True)
        c_logits, k_logits = model.copy_head.probe(tok.features[None].float(), tok.rows[None], tok.cols[None])
        order = (tok.rows * tok.grid_hw[1] + tok.cols).numpy()
        colour, kind, _sal = token_labels(row["objects"], tok.grid_hw, vc.image_size)
        pc, pk = c_logits[0].argmax(-1).numpy(), k_logits[0].argmax(-1).numpy()
        votes = collections.defaultdict(lambda: ([], []))
        for j, cell in enumerate(order):
            if kind[cell] == 0 or colour[cell] <= 0: continue
            t = (COLOUR_NAMES[colour[cell]-1], KINDS[kind[cell]-1], 0)
            votes[t][0].append(cc.colours[pc[j]-1] if pc[j] > 0 else "-")
            votes[t][1].append(cc.kinds[pk[j]-1] if pk[j] > 0 else "-")
        for (c, k, _), (vc_, vk) in votes.items():
            mc = collections.Counter(vc_).most_common(1)[0][0]; mk = collections.Counter(vk).most_common(1)[0][0]
            conf_c[(c, mc)] += 1; conf_k[(k, mk)] += 1; n += 1
            if (mc != c and mc != "-") or (mk != k and mk != "-"): pair_err[(c, k, mc, mk)] += 1
            pair_tot[(c, k)] += 1
        if len(seen) >= int(sys.argv[3]): break
print("objects", n, "scenes", len(seen))
for name, conf in (("colour", conf_c), ("kind", conf_k)):
    tot = collections.Counter(); ok = collections.Counter()
    for (a, b), v in conf.items():
        tot[a] += v; ok[a] += v * (a == b)
    print(name, {a: f"{ok[a]}/{tot[a]}" for a in sorted(tot)})
    print("  errors", sorted(((v, a, b) for (a, b), v in conf.items() if a != b), reverse=True)[:15])
print("pair errors", sorted(((v, a) for a, v in pair_err.items()), reverse=True)[:20])
print("pair totals of those", {(a[0], a[1]): pair_tot[(a[0], a[1])] for a in pair_err})
print("heldout", HELDOUT_COMBOS)
