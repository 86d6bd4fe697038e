"""Attribute copy head (model/heads/copy_head.py): the mixture is a distribution, the pointer is
additive in colour and kind (so an unseen pair is found like a seen one), regions follow the
pointed-at column, and the model carries it through training and answer()."""
import random

import numpy as np
import pytest
import torch

from tristream_ros.errors import InputError
from tristream_ros.model.config import ActionConfig, CopyConfig, TriStreamConfig
from tristream_ros.model.heads.copy_head import AttributeCopyHead, CopyWords
from tristream_ros.model.text_tokenizer import SPECIALS, TextTokenizer
from tristream_ros.model.tristream_model import Query, TriStreamModel

C, K, GH, GW = 3, 2, 2, 4
WORDS = CopyWords(colours=(5, 6, 7), kinds=(8, 9), plurals=(10, 11), regions=(12, 13, 14), prepositions=(15, 4, 15))
V = 16


def _attrs(colour: list[int], kind: list[int], cols: list[int], head: AttributeCopyHead) -> torch.Tensor:
    """Hand-made attribute features (N, A): one-hot colour/kind (index 0 = background), row 0."""
    n = len(colour)
    a = torch.zeros(n, head.attr_dim)
    for i in range(n):
        a[i, colour[i]] = 1.0
        a[i, C + 1 + kind[i]] = 1.0
        a[i, C + K + 2] = 1.0  # row 0
        a[i, C + K + 2 + GH + cols[i]] = 1.0
    return a


def _head() -> AttributeCopyHead:
    torch.manual_seed(0)
    return AttributeCopyHead(hidden=8, vision_dim=6, n_colours=C, n_kinds=K, grid_hw=(GH, GW), pointer_dim=C + K + 2)


def test_text_pointer_copies_a_word_said():
    """The text pointer puts its mass on the words said (ids), e.g. an object kind named in the
    query, whatever the LM would have generated."""
    head = _head()
    with torch.no_grad():
        head.mix.weight.zero_()
        head.mix.bias.copy_(torch.tensor([-20.0, 0.0, 0.0, 0.0, 0.0, 20.0, 0.0]))  # all mass on "text"
        head.text_query.weight.zero_()
        head.text_query.bias.fill_(1.0)
        head.text_key.weight.zero_()
        head.text_key.bias.zero_()
    emb = torch.zeros(1, 3, 8)
    emb[0, 1] = 5.0  # the second word said has the key the query looks for
    with torch.no_grad():
        head.text_key.weight.fill_(1.0)
    ids = torch.tensor([[3, 9, 4]])
    lp = head.log_probs(torch.zeros(1, 8), torch.randn(1, V), WORDS, text_emb=emb, text_ids=ids,
                        text_mask=torch.ones(1, 3, dtype=torch.bool))
    assert int(lp.argmax()) == 9
    assert torch.allclose(lp.exp().sum(-1), torch.ones(1), atol=1e-5)


def test_mixture_is_a_distribution_and_plain_lm_without_vision():
    head = _head()
    h, lm = torch.randn(4, 8), torch.randn(4, V)
    attrs = _attrs([1, 2, 0], [1, 2, 0], [0, 1, 3], head)[None].expand(4, -1, -1)
    mask = torch.tensor([[True, True, True], [True, False, False], [False, False, False], [True, True, False]])
    lp = head.log_probs(h, lm, WORDS, attrs, mask)
    assert lp.shape == (4, V)
    assert torch.allclose(lp.exp().sum(-1), torch.ones(4), atol=1e-5)
    # no valid vision token: exactly the LM's distribution
    assert torch.allclose(lp[2], lm[2].log_softmax(-1), atol=1e-5)


def test_pointer_is_additive_in_colour_and_kind():
    """A query vector asking for colour 2 and kind 1 points at the (2, 1) token although the
    scene also holds (2, 2) and (1, 1): the scores add, no pair is needed in training."""
    head = _head()
    with torch.no_grad():
        head.key.weight.copy_(torch.zeros_like(head.key.weight))
        head.key.bias.zero_()
        for j in range(C + K + 2):  # key = [p_colour, p_kind] (first C+K+2 attribute features)
            head.key.weight[j, j] = 1.0
        head.query.weight.zero_()
        head.query.bias.zero_()
        head.query.bias[2] = 20.0  # colour 2
        head.query.bias[C + 1 + 1] = 20.0  # kind 1
        head.mix.weight.zero_()
        head.mix.bias.copy_(torch.tensor([-20.0, 20.0, -20.0, -20.0, -20.0, -20.0, -20.0]))  # all mass on "copy colour"
    attrs = _attrs([2, 2, 1, 0], [2, 1, 1, 0], [0, 1, 2, 3], head)[None]
    lp = head.log_probs(torch.zeros(1, 8), torch.zeros(1, V), WORDS, attrs, torch.ones(1, 4, dtype=torch.bool))
    assert int(lp.argmax()) == WORDS.colours[1]  # colour index 2 -> second colour word
    with torch.no_grad():  # the same pointer, reading the kind word instead
        head.mix.bias.copy_(torch.tensor([-20.0, -20.0, 20.0, -20.0, -20.0, -20.0, -20.0]))
    lp = head.log_probs(torch.zeros(1, 8), torch.zeros(1, V), WORDS, attrs, torch.ones(1, 4, dtype=torch.bool))
    assert int(lp.argmax()) == WORDS.kinds[0]


@pytest.mark.parametrize("col, region", [(0, 0), (1, 1), (2, 1), (3, 2)])
def test_region_word_follows_the_pointed_column(col, region):
    head = _head()
    with torch.no_grad():
        head.query.weight.zero_()
        head.query.bias.zero_()
        head.key.weight.zero_()
        head.key.bias.zero_()
        head.mix.weight.zero_()
        head.mix.bias.copy_(torch.tensor([-20.0, -20.0, -20.0, -20.0, 20.0, -20.0, -20.0]))  # all mass on "region"
    attrs = _attrs([1], [1], [col], head)[None]
    lp = head.log_probs(torch.zeros(1, 8), torch.zeros(1, V), WORDS, attrs, torch.ones(1, 1, dtype=torch.bool))
    assert int(lp.argmax()) == WORDS.regions[region]
    with torch.no_grad():  # the word before it: "on" the left / right, "in" the middle
        head.mix.bias.copy_(torch.tensor([-20.0, -20.0, -20.0, -20.0, -20.0, -20.0, 20.0]))
    lp = head.log_probs(torch.zeros(1, 8), torch.zeros(1, V), WORDS, attrs, torch.ones(1, 1, dtype=torch.bool))
    assert int(lp.argmax()) == WORDS.prepositions[region]


def test_region_word_follows_the_action_target_when_there_is_one():
    """region_from_target: the pointer says column 0 (left); the target at u = 0.9 wins where
    given (NaN: no target, the pointer decides)."""
    head = _head()
    with torch.no_grad():
        head.mix.weight.zero_()
        head.mix.bias.copy_(torch.tensor([-20.0, -20.0, -20.0, -20.0, 20.0, -20.0, -20.0]))  # all mass on "region"
    attrs = _attrs([1], [1], [0], head)[None].expand(3, -1, -1)
    mask = torch.ones(3, 1, dtype=torch.bool)
    lp = head.log_probs(torch.zeros(3, 8), torch.zeros(3, V), WORDS, attrs, mask,
                        target_u=torch.tensor([0.9, float("nan"), 0.5]))
    assert lp.argmax(-1).tolist() == [WORDS.regions[2], WORDS.regions[0], WORDS.regions[1]]


def test_answers_take_region_words_from_the_action_target_in_training_and_inference():
    tok = _tokenizer()
    torch.manual_seed(0)
    cfg = _copy_config(tok)
    cfg.copy = CopyConfig(enabled=True, pointer_dim=16, region_from_target=True)
    model = TriStreamModel(cfg, tok).train()
    seen = []
    orig = model.copy_head.log_probs

    def spy(*a, **kw):
        seen.append(kw.get("target_u"))
        return orig(*a, **kw)
    model.copy_head.log_probs = spy
    batch = _where_batch(tok, cfg, action=["look_at", "none"], target_uv=torch.tensor([[0.2, 0.5], [0.0, 0.0]]),
                         has_target=torch.tensor([True, False]))
    out, _ = model.forward_train(batch, generator=random.Random(0))
    t_u = seen[-1]
    n_ans = int(out["answer_positions"][0].sum())  # example 0's answer positions come first
    assert torch.allclose(t_u[:n_ans], torch.full((n_ans,), 0.2)) and bool(t_u[n_ans:].isnan().all())
    model.eval()
    seen.clear()
    h = torch.randn(1, cfg.fusion.hidden_size)
    vis = model.project_vision(torch.randn(1, 4, cfg.vision_dim), torch.zeros(1, 4, dtype=torch.long),
                               torch.arange(4)[None], torch.ones(1, 4, dtype=torch.bool), torch.ones(1, 4))
    with torch.no_grad():
        model.next_log_probs(h, vis, (), target_u=0.7)
        model.next_log_probs(h, vis, ())
    assert float(seen[0][0]) == pytest.approx(0.7) and seen[1] is None


def test_said_word_preference_trains_the_mixture_to_copy_words_the_user_said():
    tok = _tokenizer()
    torch.manual_seed(0)
    cfg = _copy_config(tok)
    batch = _where_batch(tok, cfg)
    model = TriStreamModel(cfg, tok).train()
    _, losses = model.forward_train(batch, generator=random.Random(0))
    assert "said_copy" not in losses  # off unless asked for
    cfg.copy = CopyConfig(enabled=True, pointer_dim=16, said_word_preference=0.3)
    model = TriStreamModel(cfg, tok).train()
    out, losses = model.forward_train(batch, generator=random.Random(0))
    assert float(losses["said_copy"]) > 0  # "red" and "ball" were said: -log(m_text * P_text(word))
    losses["said_copy"].backward()
    assert model.copy_head.mix.weight.grad.abs().sum() > 0 and model.copy_head.text_query.weight.grad.abs().sum() > 0
    # the same batch with answer words nobody said: nothing to prefer, no loss
    batch["answer_ids"] = [tok.encode("the green cup is on the left")] * 2
    _, losses = model.forward_train(batch, generator=random.Random(0))
    assert float(losses["said_copy"]) == 0.0


def test_action_pointer_can_read_token_attributes():
    from tristream_ros.model.heads.action_head import ActionHead
    torch.manual_seed(0)
    head = ActionHead(hidden_size=8, num_actions=3, pointer_dim=4, attr_dim=5)
    with torch.no_grad():
        head.key.weight.zero_(), head.key.bias.zero_(), head.query.weight.zero_()
        head.query.bias.copy_(torch.tensor([1.0, 0.0, 0.0, 0.0]))
        head.attr_key.weight.zero_(), head.attr_key.bias.zero_()
        head.attr_key.weight[0, 2] = 10.0  # key dimension 0 <- attribute 2 ("is a cup", say)
    attrs = torch.zeros(1, 4, 5)
    attrs[0, 3, 2] = 1.0  # token 3 has it
    _, ptr, _ = head(torch.zeros(1, 8), torch.randn(1, 4, 8), torch.ones(1, 4, dtype=torch.bool), attrs)
    assert int(ptr.argmax()) == 3
    with pytest.raises(ValueError, match="attrs"):
        head(torch.zeros(1, 8), torch.randn(1, 4, 8))


def test_model_action_pointer_with_attributes_trains_and_needs_the_copy_head():
    tok = _tokenizer()
    torch.manual_seed(0)
    cfg = _copy_config(tok)
    cfg.action = ActionConfig(pointer_attributes=True)
    model = TriStreamModel(cfg, tok).train()
    batch = _where_batch(tok, cfg, action=["look_at", "look_at"], target_uv=torch.tensor([[0.2, 0.5], [0.8, 0.5]]),
                         has_target=torch.tensor([True, True]))
    _, losses = model.forward_train(batch, generator=random.Random(0))
    losses["pointer"].backward()
    assert model.action_head.attr_key.weight.grad.abs().sum() > 0
    model.eval()
    events = list(model.answer(Query(text="where is the red ball", vision=np.zeros((64, 64, 3), np.uint8))))
    assert events[-1].latencies_ms["total"] > 0
    cfg.copy = CopyConfig(enabled=False)
    with pytest.raises(InputError, match="pointer_attributes"):
        TriStreamModel(cfg, tok)
    old = TriStreamConfig.preset("demo").to_dict()
    del old["action"]["pointer_attributes"]  # written before it existed
    assert TriStreamConfig.from_dict(old).action.pointer_attributes is False


def _where_batch(tok: TextTokenizer, cfg: TriStreamConfig, **extra) -> dict:
    """Two typed "where is the red ball" examples with random vision features and labels."""
    n = cfg.vision_grid[0] * cfg.vision_grid[1]
    return {"query_ids": [tok.encode("where is the red ball")] * 2,
            "answer_ids": [tok.encode("the red ball is on the left")] * 2,
            "vision_features": torch.randn(2, n, cfg.vision_dim), "route": ["vision", "vision"],
            "spoken": [False, False], "vision_colour": torch.randint(0, 8, (2, n)),
            "vision_kind": torch.randint(0, 6, (2, n)), **extra}


def _tokenizer() -> TextTokenizer:
    cc = CopyConfig()
    words = list(SPECIALS) + list(dict.fromkeys(cc.colours + cc.kinds + cc.plurals + cc.regions +
                                                 cc.region_prepositions + ("where", "is", "the", "on")))
    return TextTokenizer(words)


def _copy_config(tok: TextTokenizer) -> TriStreamConfig:
    cfg = TriStreamConfig.preset("tiny", vocab_size=len(tok))
    cfg.copy = CopyConfig(enabled=True, pointer_dim=16)
    return cfg


def test_model_trains_and_answers_with_the_copy_head():
    tok = _tokenizer()
    torch.manual_seed(0)
    cfg = _copy_config(tok)
    model = TriStreamModel(cfg, tok).train()
    batch = _where_batch(tok, cfg)
    out, losses = model.forward_train(batch, generator=random.Random(0))
    assert "attributes" in losses and float(losses["attributes"].detach()) > 0
    assert torch.allclose(out["answer_logits"].exp().sum(-1), torch.ones(out["answer_logits"].shape[0]), atol=1e-4)
    losses["total"].backward()
    assert model.copy_head.probe.colour.weight.grad.abs().sum() > 0
    assert model.copy_head.query.weight.grad.abs().sum() > 0
    model.eval()
    events = list(model.answer(Query(text="where is the red ball", vision=np.zeros((64, 64, 3), np.uint8))))
    assert events[-1].latencies_ms["total"] > 0
    # nothing to copy (no vision, no words said): the plain LM distribution
    h = torch.randn(2, cfg.fusion.hidden_size)
    with torch.no_grad():
        assert torch.allclose(model.next_log_probs(h, None).exp(), model.decoder.logits(h).softmax(-1), atol=1e-5)
        said = tok.encode("where is the red ball")
        lp = model.next_log_probs(h, None, said)
        assert torch.allclose(lp.exp().sum(-1), torch.ones(2), atol=1e-4)


def test_copy_config_round_trip_and_old_configs():
    tok = _tokenizer()
    cfg = _copy_config(tok)
    back = TriStreamConfig.from_dict(cfg.to_dict())
    assert back.copy == cfg.copy
    old = cfg.to_dict()
    del old["copy"]  # written before the copy head existed
    assert TriStreamConfig.from_dict(old).copy.enabled is False
    with pytest.raises(InputError, match="plural"):
        CopyConfig(plurals=("balls",))


def test_copy_words_must_be_in_the_vocabulary():
    tok = TextTokenizer(list(SPECIALS) + ["red", "ball"])
    cfg = TriStreamConfig.preset("tiny", vocab_size=len(tok))
    cfg.copy = CopyConfig(enabled=True)
    with pytest.raises(InputError, match="tokenizer does not have"):
        TriStreamModel(cfg, tok)
    with pytest.raises(InputError, match="needs the model's TextTokenizer"):
        TriStreamModel(cfg, None)


def test_probe_reads_neighbours_on_the_grid_whatever_the_token_order():
    """Sparse tokens come in any order with their grid cells: the kind read-out (3x3 context)
    must depend on where tokens are, not on their order, and absent tokens count as empty."""
    from tristream_ros.model.heads.copy_head import AttributeProbe
    torch.manual_seed(0)
    probe = AttributeProbe(vision_dim=6, n_colours=C, n_kinds=K, grid_hw=(4, 4))
    feats = torch.randn(1, 5, 6)
    rows = torch.tensor([[0, 0, 1, 3, 2]])
    cols = torch.tensor([[0, 1, 1, 3, 0]])
    c, k = probe(feats, rows, cols)
    perm = torch.tensor([3, 1, 4, 0, 2])
    c2, k2 = probe(feats[:, perm], rows[:, perm], cols[:, perm])
    assert torch.allclose(k[:, perm], k2, atol=1e-5) and torch.allclose(c[:, perm], c2, atol=1e-5)
    # masking a token out equals leaving it out
    mask = torch.tensor([[True, True, True, True, False]])
    _, k3 = probe(feats, rows, cols, mask)
    _, k4 = probe(feats[:, :4], rows[:, :4], cols[:, :4])
    assert torch.allclose(k3[:, :4], k4, atol=1e-5)
    # a neighbour changes the kind read-out of token 0 (cell (0,0) touches (0,1) and (1,1))
    _, k5 = probe(feats[:, :1], rows[:, :1], cols[:, :1])
    assert not torch.allclose(k5[:, 0], k4[:, 0])


def test_kind_debias_bias_is_learnt_in_training_and_never_used_at_inference():
    """Product of experts: the colour -> kind table enters the probe's loss only."""
    from tristream_ros.model.heads.copy_head import AttributeProbe
    torch.manual_seed(0)
    probe = AttributeProbe(16, 3, 2, (2, 2), context_dim=8, kind_debias=True)
    plain = AttributeProbe(16, 3, 2, (2, 2), context_dim=8)
    plain.load_state_dict({k: v for k, v in probe.state_dict().items() if not k.startswith("kind_bias")})
    feats = torch.randn(2, 4, 16)
    rows, cols = torch.tensor([[0, 0, 1, 1]] * 2), torch.tensor([[0, 1, 0, 1]] * 2)
    with torch.no_grad():
        probe.kind_bias.weight.normal_()
    for a, b in zip(probe(feats, rows, cols), plain(feats, rows, cols)):
        assert torch.equal(a, b)  # inference: no bias
    colour = torch.tensor([[1, 2, 0, -100]] * 2)
    kind = torch.tensor([[1, 2, 0, -100]] * 2)
    assert probe.loss(feats, rows, cols, None, colour, kind) != plain.loss(feats, rows, cols, None, colour, kind)
    probe.loss(feats, rows, cols, None, colour, kind).backward()
    assert probe.kind_bias.weight.grad[1].abs().sum() > 0  # a labelled colour's row learns


def test_demo_preset_debiases_and_old_copy_configs_load_without_it():
    assert TriStreamConfig.preset("demo").copy.kind_debias
    assert not CopyConfig(enabled=True).kind_debias
    assert TriStreamConfig.preset("demo").copy.region_from_target
    old = TriStreamConfig.preset("demo").to_dict()
    del old["copy"]["region_from_target"]  # written before it existed
    assert TriStreamConfig.from_dict(old).copy.region_from_target is False


def test_count_probe_counts_blobs_and_copies_number_and_verb():
    """Count read-out: P(count | kind) from the probe's kind grid; with the kind said ("cups" id
    11 -> kind 1) the number component names that kind's count and the verb agrees with it."""
    V2 = 24
    words = CopyWords(colours=(5, 6, 7), kinds=(8, 9), plurals=(10, 11), regions=(12, 13, 14),
                      prepositions=(15, 4, 15), numbers=(16, 17, 18, 19), verbs=(20, 21))
    torch.manual_seed(0)
    head = AttributeCopyHead(hidden=8, vision_dim=6, n_colours=C, n_kinds=K, grid_hw=(GH, GW),
                             pointer_dim=C + K + 2, count=True)
    # two tokens of kind 2 (count label 2 for kind index 1), one of kind 1
    attrs = _attrs([1, 1, 2, 0], [2, 2, 1, 0], [0, 3, 1, 2], head)[None]
    mask = torch.ones(1, 4, dtype=torch.bool)
    grid = head.kind_grid(attrs, mask)
    assert grid.shape == (1, K + 1, GH, GW) and float(grid[0, 2].sum()) == 2.0 and float(grid[0, 1].sum()) == 1.0
    counts = torch.tensor([[1, 2]])
    opt = torch.optim.Adam(head.count.parameters(), 0.05)
    for _ in range(60):  # the probe learns this scene's counts
        loss = head.count_loss(attrs, mask, counts)
        opt.zero_grad(), loss.backward(), opt.step()
    assert head.count_logits(attrs, mask).argmax(-1).tolist() == [[1, 2]]
    assert torch.isfinite(head.count_loss(attrs, mask, torch.tensor([[-100, -100]])) * 0 + 1)
    with torch.no_grad():
        head.mix.weight.zero_()
        bias = torch.full((head.n_mix,), -20.0)
        bias[7] = 20.0  # all mass on the number word
        head.mix.bias.copy_(bias)
    said = dict(text_emb=torch.zeros(1, 3, 8), text_ids=torch.tensor([[3, 11, 4]]),
                text_mask=torch.ones(1, 3, dtype=torch.bool))
    lp = head.log_probs(torch.zeros(1, 8), torch.zeros(1, V2), words, attrs, mask, **said)
    assert int(lp.argmax()) == words.numbers[2]  # "two" (cups)
    with torch.no_grad():
        bias[7], bias[8] = -20.0, 20.0  # all mass on the verb
        head.mix.bias.copy_(bias)
    lp = head.log_probs(torch.zeros(1, 8), torch.zeros(1, V2), words, attrs, mask, **said)
    assert int(lp.argmax()) == words.verbs[1]  # "are" (two)
    assert torch.allclose(lp.exp().sum(-1), torch.ones(1), atol=1e-5)
    # no kind said: the count components are off, the LM gets the mass
    lp = head.log_probs(torch.zeros(1, 8), torch.zeros(1, V2), words, attrs, mask,
                        text_emb=torch.zeros(1, 2, 8), text_ids=torch.tensor([[3, 4]]),
                        text_mask=torch.ones(1, 2, dtype=torch.bool))
    assert torch.allclose(lp.exp().sum(-1), torch.ones(1), atol=1e-5) and lp[0, 17] < -5


def test_count_config_checks_and_old_configs():
    assert TriStreamConfig.preset("demo").copy.count and not CopyConfig(enabled=True).count
    with pytest.raises(InputError):
        CopyConfig(enabled=True, count=True, numbers=("no", "one"))


def test_existence_readout_answers_yes_for_the_object_said_and_no_otherwise():
    """Existence: P(yes) is the best match of the kind (and colour, when one is said) among the
    tokens' probe attributes; "yes" / "no" are copied from it, whatever the LM says."""
    V2 = 24
    words = CopyWords(colours=(5, 6, 7), kinds=(8, 9), plurals=(10, 11), regions=(12, 13, 14),
                      prepositions=(15, 4, 15), yes_no=(16, 17))
    torch.manual_seed(0)
    head = AttributeCopyHead(hidden=8, vision_dim=6, n_colours=C, n_kinds=K, grid_hw=(GH, GW),
                             pointer_dim=C + K + 2, existence=True)
    assert head.exist_index == 7 and head.n_mix == 8
    with torch.no_grad():
        head.mix.weight.zero_()
        bias = torch.full((head.n_mix,), -20.0)
        bias[head.exist_index] = 20.0  # all mass on the existence answer
        head.mix.bias.copy_(bias)
    # colour 1 kind 1 at column 0, colour 2 kind 2 at column 3, two background tokens
    attrs = _attrs([1, 2, 0, 0], [1, 2, 0, 0], [0, 3, 1, 2], head)[None]
    mask = torch.ones(1, 4, dtype=torch.bool)

    def answer(said: list[int], m=mask) -> int:
        ids = torch.tensor([said])
        lp = head.log_probs(torch.zeros(1, 8), torch.zeros(1, V2), words, attrs, m,
                            text_emb=torch.zeros(1, len(said), 8), text_ids=ids,
                            text_mask=torch.ones(1, len(said), dtype=torch.bool))
        assert torch.allclose(lp.exp().sum(-1), torch.ones(1), atol=1e-5)
        return int(lp.argmax())

    yes, no = words.yes_no
    assert answer([3, 8]) == yes  # "is there a <kind 1>"
    assert answer([3, 5, 8]) == yes  # "... a <colour 1> <kind 1>"
    assert answer([3, 6, 8]) == no  # "... a <colour 2> <kind 1>": no such pair
    assert answer([3, 7, 9]) == no
    assert answer([3, 6, 11]) == yes  # plural of kind 2, in colour 2
    # the object's token dropped by the sparse budget: not seen
    assert answer([3, 5, 8], torch.tensor([[False, True, True, True]])) == no
    # no kind said: the component is off and the LM keeps the mass
    lp = head.log_probs(torch.zeros(1, 8), torch.zeros(1, V2), words, attrs, mask,
                        text_emb=torch.zeros(1, 2, 8), text_ids=torch.tensor([[3, 5]]),
                        text_mask=torch.ones(1, 2, dtype=torch.bool))
    assert lp[0, yes] < -5 and lp[0, no] < -5


def test_existence_config_and_model_wiring():
    assert not CopyConfig(enabled=True).existence  # configs written before it load without it
    with pytest.raises(InputError, match="yes_no"):
        CopyConfig(enabled=True, existence=True, yes_no=("yes",))
    words = [w for w in SPECIALS] + "is there a red blue ball box balls boxes left middle right on in yes no".split()
    tok = TextTokenizer(words)
    cfg = TriStreamConfig.preset("tiny")
    cfg.copy = CopyConfig(enabled=True, colours=("red", "blue"), kinds=("ball", "box"), plurals=("balls", "boxes"),
                          existence=True)
    cfg.fusion.vocab_size = len(tok)
    m = TriStreamModel(cfg, tok)
    assert m.copy_words.yes_no == (tok.token_to_id("yes"), tok.token_to_id("no"))
    assert m.copy_head.exist_index is not None
    with pytest.raises(InputError, match="yes"):
        TriStreamModel(cfg, TextTokenizer([w for w in words if w != "yes"] + ["maybe"]))


def test_said_kind_names_the_kind_said_in_either_number():
    """"count the cones" -> "... one cone": the said-kind components put the kind said (singular or
    plural) on both the kind and the plural word, with or without vision; the text pointer alone
    could only copy "cones"."""
    torch.manual_seed(0)
    head = AttributeCopyHead(hidden=8, vision_dim=6, n_colours=C, n_kinds=K, grid_hw=(GH, GW),
                             pointer_dim=C + K + 2, said_kind=True)
    assert head.said_kind_index == 7 and head.n_mix == 9
    j = head.said_kind_index

    def answer(said: list[int], component: int, vision: bool = False) -> torch.Tensor:
        with torch.no_grad():
            head.mix.weight.zero_()
            bias = torch.full((head.n_mix,), -20.0)
            bias[component] = 20.0
            head.mix.bias.copy_(bias)
        kw = {}
        if vision:  # a token of kind 1 in view: the said kind still wins
            kw = {"attrs": _attrs([1], [1], [0], head)[None], "mask": torch.ones(1, 1, dtype=torch.bool)}
        parts: dict = {}
        lp = head.log_probs(torch.zeros(1, 8), torch.zeros(1, V), WORDS, text_emb=torch.zeros(1, len(said), 8),
                            text_ids=torch.tensor([said]), text_mask=torch.ones(1, len(said), dtype=torch.bool),
                            parts=parts, **kw)
        assert torch.allclose(lp.exp().sum(-1), torch.ones(1), atol=1e-5)
        assert torch.allclose(parts["said_kind"].sum(-1), parts["mix"][:, j:j + 2].sum(-1), atol=1e-5)
        return lp[0]

    cones = WORDS.plurals[1]  # kind 2 said in the plural
    assert int(answer([3, cones], j).argmax()) == WORDS.kinds[1]  # singular from the plural said
    assert int(answer([3, cones], j + 1).argmax()) == cones
    assert int(answer([3, WORDS.kinds[1]], j + 1, vision=True).argmax()) == cones  # plural from the singular
    assert int(answer([3, cones], j, vision=True).argmax()) == WORDS.kinds[1]
    # no kind said: both components are off (the LM and the text pointer share the mass)
    p = answer([3, 5], j).exp()
    assert torch.allclose(p[list(WORDS.kinds + WORDS.plurals)], p[2].expand(4), atol=1e-6)  # as an unsaid word


def test_said_kind_config_wiring_and_preference_counts_the_other_number():
    assert not CopyConfig(enabled=True).said_kind  # configs written before it load without it
    assert TriStreamConfig.preset("demo").copy.said_kind
    tok = _tokenizer()
    torch.manual_seed(0)
    cfg = _copy_config(tok)
    cfg.copy = CopyConfig(enabled=True, pointer_dim=16, said_word_preference=0.3, said_kind=True)
    model = TriStreamModel(cfg, tok).train()
    assert model.copy_head.said_kind_index is not None
    batch = _where_batch(tok, cfg)
    # "where are the balls" -> "the red ball ...": "ball" was said as "balls", so it is preferred
    batch["query_ids"] = [tok.encode("where is the balls")] * 2
    batch["answer_ids"] = [tok.encode("the ball is on the left")] * 2
    _, losses = model.forward_train(batch, generator=random.Random(0))
    assert float(losses["said_copy"]) > 0
    losses["said_copy"].backward()
    assert model.copy_head.mix.weight.grad[model.copy_head.said_kind_index].abs().sum() > 0


def test_pointer_follows_the_object_said_when_the_probe_finds_it():
    """pointer_from_said: the pointer looks at every token alike (u in the middle); "where is the
    <colour 2> <kind 2>" names the object at column 3 (right), so "right" comes from where it is;
    an object nobody said, or one not in view, leaves the pointer's region; a target still wins."""
    torch.manual_seed(0)
    head = AttributeCopyHead(hidden=8, vision_dim=6, n_colours=C, n_kinds=K, grid_hw=(GH, GW),
                             pointer_dim=C + K + 2, pointer_from_said=True)
    with torch.no_grad():
        for lin in (head.query, head.key):
            lin.weight.zero_()
            lin.bias.zero_()
        head.mix.weight.zero_()
        head.mix.bias.copy_(torch.tensor([-20.0, -20.0, -20.0, -20.0, 20.0, -20.0, -20.0]))  # all mass on "region"
    # kind 1 colour 1 at column 0, kind 2 colour 2 at columns 2 and 3 (two tokens), background at column 1
    attrs = _attrs([1, 0, 2, 2], [1, 0, 2, 2], [0, 1, 2, 3], head)[None]
    mask = torch.ones(1, 4, dtype=torch.bool)

    def region(said: list[int], target_u: float | None = None) -> int:
        kw = {"target_u": torch.tensor([target_u])} if target_u is not None else {}
        lp = head.log_probs(torch.zeros(1, 8), torch.zeros(1, V), WORDS, attrs, mask,
                            text_emb=torch.zeros(1, len(said), 8), text_ids=torch.tensor([said]),
                            text_mask=torch.ones(1, len(said), dtype=torch.bool), **kw)
        return WORDS.regions.index(int(lp.argmax()))

    assert region([3, 6, 9]) == 2  # "where is the <colour 2> <kind 2>": columns 2-3 (u 0.75)
    assert region([3, 8]) == 0  # "<kind 1>": column 0
    assert region([3, 11]) == 2  # said in the plural
    assert region([3, 7, 8]) == 1  # "<colour 3> <kind 1>": no such object, the pointer's middle
    assert region([3, 5]) == 1  # no kind said: the pointer
    assert region([3, 8], target_u=0.9) == 2  # the action target wins
    with torch.no_grad():  # the colour component reads the object said: "what colour is the <kind 2>"
        head.mix.bias.copy_(torch.tensor([-20.0, 20.0, -20.0, -20.0, -20.0, -20.0, -20.0]))
    lp = head.log_probs(torch.zeros(1, 8), torch.zeros(1, V), WORDS, attrs, mask, text_emb=torch.zeros(1, 2, 8),
                        text_ids=torch.tensor([[3, 9]]), text_mask=torch.ones(1, 2, dtype=torch.bool))
    assert int(lp.argmax()) == WORDS.colours[1]


def test_said_object_finds_the_named_object_for_the_action_target():
    """`said_object` (pointer_from_said's selection, also used by copy.target_from_said for the
    action target): the tokens of the kind (and colour) said, within half of the best match; not
    found when no kind was said or nothing matches well enough."""
    head = _head()
    # tokens: red kind-1 (col 0), blue kind-2 (cols 1, 2), red kind-2 (col 3)
    attrs = _attrs([1, 3, 3, 1], [1, 2, 2, 2], [0, 1, 2, 3], head)[None]
    mask = torch.ones(1, 4, dtype=torch.bool)

    def said(*ids):
        t = torch.tensor([list(ids)])
        return head.said_object(attrs, mask, WORDS, t, torch.ones_like(t, dtype=torch.bool))

    w, found = said(3, 9)  # "... the <kind 2>": all three kind-2 tokens
    assert bool(found[0]) and (w[0] > 0).tolist() == [False, True, True, True]
    assert float(w.sum()) == pytest.approx(1.0)
    w, found = said(7, 11)  # "... the blue <kinds 2>": the blue ones only
    assert bool(found[0]) and (w[0] > 0).tolist() == [False, True, True, False]
    _, found = said(5, 6)  # colours only, no kind said
    assert not bool(found[0])
    _, found = said(6, 8)  # a green kind-1: no token matches
    assert not bool(found[0])
