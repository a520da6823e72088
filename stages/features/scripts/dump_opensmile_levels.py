#!/usr/bin/env python3
"""Dumps intermediate openSMILE levels of the eGeMAPSv02 graph to CSV, for debugging parity.

Usage: dump_opensmile_levels.py WAV OUT_DIR LEVEL...
e.g.   dump_opensmile_levels.py clip.wav /tmp/levels gemapsv01b_logPitch gemapsv01b_formants

Level names are the `writer.dmLevel`s of the configs shipped with the `opensmile` package
(config/gemaps/v01b, config/egemaps/v02). Each level is written to OUT_DIR/LEVEL.csv with
frame index and time columns.
"""

import os
import shutil
import sys
import tempfile

import soundfile as sf
import opensmile
from opensmile.core.lib import OpenSMILE


def main():
    wav, out_dir, levels = sys.argv[1], sys.argv[2], sys.argv[3:]
    os.makedirs(out_dir, exist_ok=True)
    root = os.path.join(tempfile.mkdtemp(), "config")
    shutil.copytree(os.path.join(os.path.dirname(opensmile.__file__), "core", "config"), root)
    cfg_dir = os.path.join(root, "egemaps", "v02")
    with open(os.path.join(cfg_dir, "eGeMAPSv02.conf")) as f:
        conf = f.read()
    conf += "\n[componentInstances:cComponentManager]\n"
    conf += "".join(f"instance[dump{i}].type=cCsvSink\n" for i in range(len(levels)))
    for i, level in enumerate(levels):
        path = os.path.abspath(os.path.join(out_dir, level + ".csv"))
        conf += (f"[dump{i}:cCsvSink]\nreader.dmLevel={level}\nfilename={path}\nappend=0\n"
                 "timestamp=1\nnumber=1\nprintHeader=1\ndelimChar=,\n")
    with open(os.path.join(cfg_dir, "dump.conf"), "w") as f:
        f.write(conf)
    x, sr = sf.read(wav, dtype="int16")
    smile = OpenSMILE()
    smile.initialize(
        config_file=os.path.join(cfg_dir, "dump.conf"),
        options={
            "source": os.path.join(root, "shared", "standard_external_wave_input.conf.inc"),
            "sink": os.path.join(root, "shared", "standard_external_data_output_single.conf.inc"),
            "sampleRate": sr,
            "nBits": 16,
        },
        loglevel=0,
        log_file=None,
        debug=False,
    )
    smile.external_sink_set_callback_ex("extsink", lambda data, meta: None)
    smile.external_audio_source_write_data("extsource", bytes(x))
    smile.external_audio_source_set_eoi("extsource")
    smile.run()
    smile.free()
    shutil.rmtree(os.path.dirname(root))


if __name__ == "__main__":
    main()
