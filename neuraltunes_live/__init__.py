"""neuraltunes-live: continue a played phrase with an LSTM, live, over MIDI."""

__version__ = "0.1.0"
