"""MobileViT backbone (Mehta & Rastegari, 2022), written for this project.

Why our own module rather than ``transformers.MobileViTModel``: the STVE runs the backbone on
64x64 tiles in a streaming loop, exports it to ONNX and quantizes it, and its nodes must start
fast on an edge CPU; pulling ``transformers`` (and its hub/tokenizer dependencies) into every
node for ~200 lines of model code is a poor trade. Module and parameter *names* follow the
Hugging Face layout (``conv_stem.convolution.weight``,
``encoder.layer.2.transformer.layer.0.attention.attention.query.weight``, ...), so a pretrained
HF MobileViT checkpoint loads by name (``pretrained_mobilevit.py``); an optional test compares
outputs with ``transformers`` when it is installed.

Architecture (output stride 32)::

    conv_stem      3x3 s2 conv-BN-SiLU                         -> neck[0]   H/2
    encoder.layer.0  MobileNetV2 inverted residuals, s1         -> neck[1]   H/2
    encoder.layer.1  inverted residuals, first s2               -> neck[2]   H/4
    encoder.layer.2  MobileViT block (s2 downsample, transformer width hidden[0]) -> neck[3] H/8
    encoder.layer.3  MobileViT block (hidden[1])                -> neck[4]   H/16
    encoder.layer.4  MobileViT block (hidden[2])                -> neck[5]   H/32
    conv_1x1_exp   1x1 conv-BN-SiLU                             -> neck[6]   (if expand_output)

A MobileViT block: local kxk conv, 1x1 projection to the transformer width, "unfold" the map into
patch_size x patch_size patches and run a transformer *across patches* separately for every pixel
position inside a patch, fold back, 1x1 projection, concatenate with the block input, kxk fusion conv.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import nn

from .config import VisionConfig

_ACT = {"silu": nn.SiLU, "swish": nn.SiLU, "gelu": nn.GELU, "relu": nn.ReLU}


def make_divisible(value: float, divisor: int = 8) -> int:
    """Round a channel count to a multiple of ``divisor``, never more than 10% below ``value``
    (the MobileNetV2 rule that HF checkpoints were built with)."""
    rounded = max(divisor, int(value + divisor / 2) // divisor * divisor)
    return rounded + divisor if rounded < 0.9 * value else rounded


class MobileViTConvLayer(nn.Module):
    """Conv2d (no bias) -> optional BatchNorm -> optional activation."""

    def __init__(self, config: VisionConfig, in_channels: int, out_channels: int, kernel_size: int,
                 stride: int = 1, groups: int = 1, norm: bool = True, act: bool = True):
        super().__init__()
        self.convolution = nn.Conv2d(in_channels, out_channels, kernel_size, stride=stride,
                                     padding=(kernel_size - 1) // 2, groups=groups, bias=False)
        self.normalization = nn.BatchNorm2d(out_channels, eps=1e-5, momentum=0.1) if norm else None
        self.activation = _ACT[config.hidden_act]() if act else None

        self._fused: tuple | None = None  # (key, weight, bias): BatchNorm folded into the conv

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        bn = self.normalization
        if bn is not None and not self.training and not torch.is_grad_enabled() and not torch.jit.is_tracing():
            conv = self.convolution  # eval, no autograd: one conv with BatchNorm folded in
            weight, bias = self._folded_batchnorm()
            x = F.conv2d(x, weight, bias, conv.stride, conv.padding, conv.dilation, conv.groups)
        else:
            x = self.convolution(x)
            if bn is not None:
                x = bn(x)
        if self.activation is not None:
            x = self.activation(x)
        return x

    def _folded_batchnorm(self) -> tuple[torch.Tensor, torch.Tensor]:
        """w' = w * g / sqrt(var + eps), b' = beta - mean * g / sqrt(var + eps); cached until any
        of the tensors involved changes (optimizer step, load_state_dict)."""
        bn, w = self.normalization, self.convolution.weight
        tensors = (w, bn.weight, bn.bias, bn.running_mean, bn.running_var)
        key = tuple((t.data_ptr(), t._version, t.device, t.dtype) for t in tensors)
        if self._fused is None or self._fused[0] != key:
            with torch.no_grad():
                scale = bn.weight / torch.sqrt(bn.running_var + bn.eps)  # (C_out,)
                weight = w * scale.view(-1, 1, 1, 1)
                bias = bn.bias - bn.running_mean * scale
            self._fused = (key, weight, bias)
        return self._fused[1], self._fused[2]


class MobileViTInvertedResidual(nn.Module):
    """MobileNetV2 block: 1x1 expand -> 3x3 depthwise (stride) -> 1x1 reduce (+ residual)."""

    def __init__(self, config: VisionConfig, in_channels: int, out_channels: int, stride: int):
        super().__init__()
        hidden = make_divisible(round(in_channels * config.expand_ratio))
        self.use_residual = stride == 1 and in_channels == out_channels
        self.expand_1x1 = MobileViTConvLayer(config, in_channels, hidden, 1)
        self.conv_3x3 = MobileViTConvLayer(config, hidden, hidden, 3, stride=stride, groups=hidden)
        self.reduce_1x1 = MobileViTConvLayer(config, hidden, out_channels, 1, act=False)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        y = self.reduce_1x1(self.conv_3x3(self.expand_1x1(x)))
        return x + y if self.use_residual else y


class MobileViTMobileNetLayer(nn.Module):
    def __init__(self, config: VisionConfig, in_channels: int, out_channels: int, stride: int,
                 num_stages: int):
        super().__init__()
        self.layer = nn.ModuleList(
            MobileViTInvertedResidual(config, in_channels if i == 0 else out_channels, out_channels,
                                      stride if i == 0 else 1)
            for i in range(num_stages))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        for block in self.layer:
            x = block(x)
        return x


class MobileViTSelfAttention(nn.Module):
    def __init__(self, config: VisionConfig, hidden_size: int):
        super().__init__()
        self.num_heads = config.num_attention_heads
        self.query = nn.Linear(hidden_size, hidden_size, bias=config.qkv_bias)
        self.key = nn.Linear(hidden_size, hidden_size, bias=config.qkv_bias)
        self.value = nn.Linear(hidden_size, hidden_size, bias=config.qkv_bias)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        b, n, c = x.shape  # (B*patch_area, num_patches, C)
        q, k, v = (proj(x).view(b, n, self.num_heads, c // self.num_heads).transpose(1, 2)
                   for proj in (self.query, self.key, self.value))  # (B', nh, n, hs)
        y = F.scaled_dot_product_attention(q, k, v)  # (B', nh, n, hs)
        return y.transpose(1, 2).reshape(b, n, c)


class MobileViTSelfOutput(nn.Module):
    def __init__(self, hidden_size: int):
        super().__init__()
        self.dense = nn.Linear(hidden_size, hidden_size)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.dense(x)


class MobileViTAttention(nn.Module):
    def __init__(self, config: VisionConfig, hidden_size: int):
        super().__init__()
        self.attention = MobileViTSelfAttention(config, hidden_size)
        self.output = MobileViTSelfOutput(hidden_size)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.output(self.attention(x))


class MobileViTIntermediate(nn.Module):
    def __init__(self, config: VisionConfig, hidden_size: int, intermediate_size: int):
        super().__init__()
        self.dense = nn.Linear(hidden_size, intermediate_size)
        self.act = _ACT[config.hidden_act]()

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.act(self.dense(x))


class MobileViTOutput(nn.Module):
    def __init__(self, hidden_size: int, intermediate_size: int):
        super().__init__()
        self.dense = nn.Linear(intermediate_size, hidden_size)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.dense(x)


class MobileViTTransformerLayer(nn.Module):
    """Pre-norm transformer layer: x + attn(LN(x)); then x + mlp(LN(x))."""

    def __init__(self, config: VisionConfig, hidden_size: int):
        super().__init__()
        intermediate = int(hidden_size * config.mlp_ratio)
        self.attention = MobileViTAttention(config, hidden_size)
        self.intermediate = MobileViTIntermediate(config, hidden_size, intermediate)
        self.output = MobileViTOutput(hidden_size, intermediate)
        self.layernorm_before = nn.LayerNorm(hidden_size, eps=config.layer_norm_eps)
        self.layernorm_after = nn.LayerNorm(hidden_size, eps=config.layer_norm_eps)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        x = x + self.attention(self.layernorm_before(x))
        return x + self.output(self.intermediate(self.layernorm_after(x)))


class MobileViTTransformer(nn.Module):
    def __init__(self, config: VisionConfig, hidden_size: int, num_stages: int):
        super().__init__()
        self.layer = nn.ModuleList(MobileViTTransformerLayer(config, hidden_size)
                                   for _ in range(num_stages))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        for layer in self.layer:
            x = layer(x)
        return x


class MobileViTLayer(nn.Module):
    """MobileViT block: local conv -> global (transformer over patches) -> fuse with the input."""

    def __init__(self, config: VisionConfig, in_channels: int, out_channels: int, stride: int,
                 hidden_size: int, num_stages: int):
        super().__init__()
        self.patch = config.patch_size
        self.downsampling_layer = (MobileViTInvertedResidual(config, in_channels, out_channels, stride)
                                   if stride == 2 else None)
        c = out_channels if stride == 2 else in_channels
        k = config.conv_kernel_size
        self.conv_kxk = MobileViTConvLayer(config, c, c, k)
        self.conv_1x1 = MobileViTConvLayer(config, c, hidden_size, 1, norm=False, act=False)
        self.transformer = MobileViTTransformer(config, hidden_size, num_stages)
        self.layernorm = nn.LayerNorm(hidden_size, eps=config.layer_norm_eps)
        self.conv_projection = MobileViTConvLayer(config, hidden_size, c, 1)
        self.fusion = MobileViTConvLayer(config, 2 * c, c, k)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        if self.downsampling_layer is not None:
            x = self.downsampling_layer(x)
        residual = x
        y = self.conv_1x1(self.conv_kxk(x))
        b, c, h, w = y.shape
        p = self.patch
        if not torch.jit.is_tracing() and (h % p or w % p):
            raise ValueError(f"MobileViTLayer: feature map {h}x{w} is not divisible by patch_size={p}")
        nh, nw = h // p, w // p
        # unfold: one sequence of patches per pixel position inside a patch
        y = y.view(b, c, nh, p, nw, p).permute(0, 3, 5, 2, 4, 1)  # (B, p, p, nh, nw, C)
        y = y.reshape(b * p * p, nh * nw, c)  # (B*p*p, num_patches, C)
        y = self.layernorm(self.transformer(y))
        # fold back
        y = y.view(b, p, p, nh, nw, c).permute(0, 5, 3, 1, 4, 2)  # (B, C, nh, p, nw, p)
        y = y.reshape(b, c, h, w)
        y = self.conv_projection(y)
        return self.fusion(torch.cat((residual, y), dim=1))


class MobileViTEncoder(nn.Module):
    def __init__(self, config: VisionConfig):
        super().__init__()
        n = config.neck_hidden_sizes
        hs = config.hidden_sizes
        d = config.transformer_depths
        m = config.mobilenet_stages
        self.layer = nn.ModuleList([
            MobileViTMobileNetLayer(config, n[0], n[1], stride=1, num_stages=m[0]),
            MobileViTMobileNetLayer(config, n[1], n[2], stride=2, num_stages=m[1]),
            MobileViTLayer(config, n[2], n[3], stride=2, hidden_size=hs[0], num_stages=d[0]),
            MobileViTLayer(config, n[3], n[4], stride=2, hidden_size=hs[1], num_stages=d[1]),
            MobileViTLayer(config, n[4], n[5], stride=2, hidden_size=hs[2], num_stages=d[2]),
        ])

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        for layer in self.layer:
            x = layer(x)
        return x


class MobileViTBackbone(nn.Module):
    """pixels (B, 3, H, W) float in [0, 1], channel order as the weights expect
    -> feature map (B, token_dim, H/32, W/32). H and W must be multiples of 32*patch_size."""

    def __init__(self, config: VisionConfig):
        super().__init__()
        self.config = config
        n = config.neck_hidden_sizes
        self.conv_stem = MobileViTConvLayer(config, config.num_channels, n[0], 3, stride=2)
        self.encoder = MobileViTEncoder(config)
        self.conv_1x1_exp = MobileViTConvLayer(config, n[5], n[6], 1) if config.expand_output else None
        self.apply(_init_weights)
        if config.channels_last:
            # NHWC convolutions are ~1.5x faster on CPU (oneDNN) for these small maps; state_dict()
            # still returns contiguous (NCHW) tensors, as safetensors and HF checkpoints expect.
            self.to(memory_format=torch.channels_last)
            self.register_state_dict_post_hook(_contiguous_state_dict)

    @property
    def out_channels(self) -> int:
        return self.config.token_dim

    def forward(self, pixels: torch.Tensor) -> torch.Tensor:
        if self.config.channels_last:
            pixels = pixels.contiguous(memory_format=torch.channels_last)
        x = self.encoder(self.conv_stem(pixels))
        if self.conv_1x1_exp is not None:
            x = self.conv_1x1_exp(x)
        return x  # (B, D, H/32, W/32)


def _init_weights(module: nn.Module) -> None:
    if isinstance(module, nn.Linear):
        nn.init.trunc_normal_(module.weight, std=0.02)
        if module.bias is not None:
            nn.init.zeros_(module.bias)
    elif isinstance(module, nn.Conv2d):
        nn.init.kaiming_normal_(module.weight, mode="fan_out", nonlinearity="relu")


def _contiguous_state_dict(module: nn.Module, state_dict: dict, prefix: str, local_metadata) -> None:
    # state_dict(keep_vars=True) (used by exporters to find parameters) must return the
    # Parameters themselves, so only detached copies are made contiguous.
    for key, value in state_dict.items():
        if (key.startswith(prefix) and isinstance(value, torch.Tensor) and not isinstance(value, nn.Parameter)
                and not value.is_contiguous()):
            state_dict[key] = value.contiguous()
