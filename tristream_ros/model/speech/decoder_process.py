"""A pocketsphinx decoder in its own process: the command-wrapper decoder's search on the other core.

The front end runs two pocketsphinx grammar searches while the user speaks (the plain grammar's
and the wrapper grammar's: command_wrappers.py), ~0.4 CPU s per audio second each (session 29).
pocketsphinx holds the GIL while it searches, so in one process the two run one after the other
and the speech node fell behind: first audio p90 1069 ms with the wrappers against 523 ms without
(`tristream bench latency`, session 29). Here the wrapper decoder is an ordinary
`PocketsphinxRecognizer` in a child process; the parent only copies each chunk into a pipe
(`feed` does not wait) and waits at `end()` for the words and their timing.

    rec = DecoderProcess(config)   # the child builds its decoder; its errors are raised here
    rec.start(); rec.feed(pcm) ...; text = rec.end()   # + last_segments, last_frames, acoustic_score
    rec.close()

The child is `python -c` of this module's `serve` (no torch: the speech package imports its
model lazily), ignores SIGINT (Ctrl-C of a launch reaches the whole process group; the parent
decides when it ends) and exits when its pipe closes, so it never outlives the parent.

If the child dies or does not answer (killed, out of memory), the recogniser says so once in
`problem`, continues in this process with a new decoder (the same config) and returns no words
for the utterance that was lost: the plain grammar's decoder decides that utterance, as it does
every utterance the wrapper decoder hears no wrapper in. Nothing else is lost.
"""
from __future__ import annotations

import os
import signal
import subprocess
import sys
import weakref
from multiprocessing.connection import Connection
from pathlib import Path

import numpy as np

from tristream_ros.errors import InputError, ModelFileError
from tristream_ros.model.speech.pocketsphinx_frontend import PocketsphinxConfig, PocketsphinxRecognizer

# the front end runs the wrapper decoder in a child process unless told otherwise
# (speech.wrapper_decoder_process; measured in docs/training.md)
WRAPPER_PROCESS_DEFAULT = True
READY_TIMEOUT_S = 60.0  # s the child may take to start and build its decoder (~0.5 s measured)
# s end() waits for the child's words after the parent's decoder finished the same audio; the
# child is at most the pipe's backlog behind (a busy moment), a dead child answers at once (EOF)
END_TIMEOUT_S = 30.0
PIPE_BYTES = 1 << 20  # pipe capacity asked for: ~16 s of float32 16 kHz audio before feed() would block
_F_SETPIPE_SZ = 1031  # fcntl command (Linux) to resize a pipe
_ERRORS = {"InputError": InputError, "ModelFileError": ModelFileError}


def _widen(fd: int) -> None:
    try:
        import fcntl
        fcntl.fcntl(fd, getattr(fcntl, "F_SETPIPE_SZ", _F_SETPIPE_SZ), PIPE_BYTES)
    except (OSError, ImportError):  # not Linux, or over /proc/sys/fs/pipe-max-size: the default (64 KiB)
        pass


def _kill(proc: subprocess.Popen, conns: tuple[Connection, ...]) -> None:
    """Close the pipes (the child exits on EOF) and make sure the child is gone."""
    for c in conns:
        try:
            c.close()
        except OSError:
            pass
    if proc.poll() is None:
        try:
            proc.wait(timeout=2.0)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()


class DecoderProcess:
    """A PocketsphinxRecognizer run in a child process (the module doc). Offers what the front end
    uses of the wrapper decoder: `config`, `start`, `feed`, `end`, `last_segments`,
    `last_frames`, `acoustic_score` and the dictionary lines (`_dict_lines`) for
    `PocketsphinxRecognizer.align_words_of`.

    problem: None while the child works; else why it was given up (the decoder then runs in this
    process, `in_process` True)."""

    def __init__(self, config: PocketsphinxConfig, ready_timeout_s: float = READY_TIMEOUT_S,
                 end_timeout_s: float = END_TIMEOUT_S):
        self.config = config
        self.end_timeout_s = float(end_timeout_s)
        self.problem: str | None = None
        self.last_segments: list[tuple[str, int, int]] = []
        self.last_frames = 0
        self.acoustic_score = float("inf")
        self._local: PocketsphinxRecognizer | None = None
        self._active = False  # an utterance is open in the child
        self._lost = False  # the child died inside this utterance: no words for it
        to_child_r, to_child_w = os.pipe()
        from_child_r, from_child_w = os.pipe()
        _widen(to_child_w)
        root = str(Path(__file__).resolve().parents[3])  # the folder holding tristream_ros/
        code = (f"import sys; sys.path.insert(0, {root!r}); "
                f"from tristream_ros.model.speech.decoder_process import serve; serve({to_child_r}, {from_child_w})")
        try:
            self._proc = subprocess.Popen([sys.executable, "-c", code], pass_fds=(to_child_r, from_child_w),
                                          stdin=subprocess.DEVNULL, close_fds=True)
        except OSError as exc:
            for fd in (to_child_r, to_child_w, from_child_r, from_child_w):
                os.close(fd)
            self._give_up(f"could not start the decoder process ({exc})")
            self._dict_lines = self._local._dict_lines
            return
        os.close(to_child_r)
        os.close(from_child_w)
        self._tx = Connection(to_child_w, readable=False)
        self._rx = Connection(from_child_r, writable=False)
        self._finalizer = weakref.finalize(self, _kill, self._proc, (self._tx, self._rx))
        try:
            self._tx.send(("config", config))
            reply = self._reply(ready_timeout_s, "start")
        except (OSError, EOFError) as exc:
            reply = None
            self._give_up(f"the decoder process did not start ({exc})")
        if reply is not None and reply[0] == "error":
            self.close()
            raise _ERRORS.get(reply[1], RuntimeError)(reply[2])
        self._dict_lines = reply[1] if reply is not None else self._local._dict_lines

    @property
    def in_process(self) -> bool:
        return self._local is not None

    def _reply(self, timeout_s: float, what: str):
        """The child's next message; None (and the decoder moved here) when it died or timed out."""
        if self._rx.poll(timeout_s):
            try:
                return self._rx.recv()
            except (EOFError, OSError):
                pass
        code = self._proc.poll()
        why = f"exited with code {code}" if code is not None else f"did not answer {what} within {timeout_s:g} s"
        self._give_up(f"the wrapper decoder process {why}")
        return None

    def _give_up(self, why: str) -> None:
        """Stop using the child: the same decoder in this process from now on."""
        self.problem = why + "; decoding in the speech node's own process from now on"
        if getattr(self, "_finalizer", None) is not None:
            self._finalizer()
        self._local = PocketsphinxRecognizer(self.config)
        self._lost, self._active = self._active, False

    def _send(self, msg) -> bool:
        try:
            self._tx.send(msg)
            return True
        except (OSError, ValueError) as exc:  # BrokenPipe: the child is gone
            self._give_up(f"the wrapper decoder process stopped reading ({exc})")
            return False

    def start(self) -> None:
        self._lost = False
        if self._local is not None:
            self._local.start()
        elif self._send(("start",)):
            self._active = True

    def feed(self, pcm: np.ndarray) -> None:
        """Queue one chunk (float32 16 kHz) for the child; returns at once (no partials: the
        front end reads the plain decoder's)."""
        if self._local is not None:
            if not self._lost:  # not the rest of an utterance whose start went with the child
                self._local.feed(pcm)
        elif self._active:
            self._send(("feed", np.ascontiguousarray(pcm, dtype=np.float32).tobytes()))

    def end(self) -> str:
        """End the utterance: the child's final text (waits for it to decode what was queued)."""
        self.last_segments, self.last_frames, self.acoustic_score = [], 0, float("inf")
        if self._local is not None:
            if self._lost:  # the child died inside this utterance: no words for it
                self._lost = False
                return ""
            text = self._local.end()
            self.last_segments, self.last_frames = self._local.last_segments, self._local.last_frames
            self.acoustic_score = self._local.acoustic_score
            return text
        if not self._active:
            return ""
        self._active = False
        if not self._send(("end",)):
            return ""
        reply = self._reply(self.end_timeout_s, "end of utterance")
        if reply is None:
            return ""
        _, text, self.last_segments, self.last_frames, self.acoustic_score = reply
        return text

    def cpu_seconds(self) -> float:
        """CPU seconds (user + system) the child has used so far (0 when it is gone or not on
        Linux): `tristream bench wrappers` adds them to the parent's."""
        proc = getattr(self, "_proc", None)
        if proc is None or self._local is not None:
            return 0.0
        try:
            with open(f"/proc/{proc.pid}/stat") as fh:
                fields = fh.read().rsplit(")", 1)[1].split()
            return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")  # utime, stime (clock ticks)
        except (OSError, ValueError, IndexError):
            return 0.0

    def close(self) -> None:
        """Stop the child (idempotent); the recogniser is not used after this."""
        fin = getattr(self, "_finalizer", None)
        if fin is not None:
            fin()


def serve(rx_fd: int, tx_fd: int) -> None:
    """The child's loop: build the recogniser from the first message, then start / feed / end
    until the pipe closes."""
    signal.signal(signal.SIGINT, signal.SIG_IGN)
    rx, tx = Connection(rx_fd, writable=False), Connection(tx_fd, readable=False)
    try:
        _, config = rx.recv()
        try:
            rec = PocketsphinxRecognizer(config)
        except (InputError, ModelFileError) as exc:
            tx.send(("error", type(exc).__name__, str(exc)))
            return
        tx.send(("ready", rec._dict_lines))
        while True:
            msg = rx.recv()
            if msg[0] == "feed":
                rec.feed(np.frombuffer(msg[1], np.float32))
            elif msg[0] == "start":
                rec.start()
            elif msg[0] == "end":
                text = rec.end()
                tx.send(("end", text, rec.last_segments, rec.last_frames, rec.acoustic_score))
    except (EOFError, OSError, KeyboardInterrupt):  # the parent closed the pipe or went away
        return
