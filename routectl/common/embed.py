#!/usr/bin/env python3
"""Turns files into a C table (struct embedded_file) so that the binaries
carry their YANG modules and default BIRD template with them."""
import os
import sys

out, inputs = sys.argv[1], sys.argv[2:]
with open(out, "w") as f:
    f.write('#include "common/embedded.h"\n\n')
    for i, path in enumerate(inputs):
        data = open(path, "rb").read()
        f.write("static const char file_%d[] = {\n" % i)
        for off in range(0, len(data), 16):
            f.write("\t" + ", ".join("0x%02x" % b for b in data[off:off + 16]) + ",\n")
        f.write("\t0x00\n};\n\n")
    f.write("const struct embedded_file embedded_files[] = {\n")
    for i, path in enumerate(inputs):
        size = os.path.getsize(path)
        f.write('\t{ "%s", file_%d, %d },\n' % (os.path.basename(path), i, size))
    f.write("\t{ 0, 0, 0 }\n};\n")
