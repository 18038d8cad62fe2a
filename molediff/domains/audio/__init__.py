"""Spoken digits you can hear: log-mel spectrograms diffused by the U-Net, Griffin-Lim back
to WAV, an audibility check on every clip, and a spoken-digit classifier as the judge."""

from molediff.domains.audio.domain import AudioDomain

__all__ = ["AudioDomain"]
