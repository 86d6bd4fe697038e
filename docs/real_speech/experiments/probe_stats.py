"""Per-set figures of the natural-command harnesses (natural_forms_session29, aliases_session30):
actions right, wrong motions (a moving action other than the one meant), not understood, and
optionally how often the query was heard as said. Plain Python (no torch): the summarise scripts
run with python3."""

MOVING = {"forward", "backward", "turn_left", "turn_right", "navigate_to", "look_at"}


def wrong_motion(r) -> bool:
    return r["pred_action"] in MOVING and r["pred_action"] != r["action"]


def stats(rows, heard_exact: bool = True) -> dict:
    out = {"n": len(rows),
           "actions_right": sum(r["pred_action"] == r["action"] for r in rows),
           "wrong_motions": sum(wrong_motion(r) for r in rows),
           "not_understood": sum(bool(r["not_understood"]) for r in rows)}
    if heard_exact:
        out["heard_exact"] = sum(r["heard"] == r["query"] for r in rows)
    out["wrong_motion_examples"] = sorted({f"{r['query']} -> {r['heard']} ({r['pred_action']})"
                                           for r in rows if wrong_motion(r)})
    return out
