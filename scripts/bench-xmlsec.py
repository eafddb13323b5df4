#!/usr/bin/env python3
"""xmlsec1 on the same document as `cargo bench -p lienthong-certs --features testing --bench xmldsig`.

Runs libxmlsec1 in-process through Python's `xmlsec` binding (and libxml2's exclusive C14N
through lxml), so process start-up is not counted. Each figure is the best of five runs of at
least one second, like the Rust benchmark. Set-up (Debian):

    apt-get install -y libxmlsec1-dev pkg-config libxml2-dev
    python3 -m venv /tmp/xsvenv && /tmp/xsvenv/bin/pip install xmlsec lxml
    /tmp/xsvenv/bin/python scripts/bench-xmlsec.py target/bench-xmldsig
"""
import sys
import time
from pathlib import Path

import xmlsec
from lxml import etree

NS = "http://www.mic.gov.vn/TBT/QCVN_102_2016"


def rate(op):
    best = 0.0
    for _ in range(5):
        start = time.perf_counter()
        n = 0
        while time.perf_counter() - start < 1.0:
            op()
            n += 1
        best = max(best, n / (time.perf_counter() - start))
    return best


def main(directory):
    d = Path(directory)
    data = (d / "edxml.xml").read_bytes()
    print(f"document: {len(data)} bytes, xmlsec {xmlsec.get_libxmlsec_version()}, libxml2 {etree.LIBXML_VERSION}")
    mb = len(data) / 1e6
    parsed = etree.fromstring(data)
    full = rate(lambda: etree.tostring(etree.fromstring(data), method="c14n", exclusive=True))
    only = rate(lambda: etree.tostring(parsed, method="c14n", exclusive=True))
    print(f"exclusive C14N (libxml2): parse+canonicalize {full * mb:.1f} MB/s, canonicalize only {only * mb:.1f} MB/s")

    manager = xmlsec.KeysManager()
    manager.load_cert(str(d / "ca.pem"), xmlsec.constants.KeyDataFormatPem, xmlsec.constants.KeyDataTypeTrusted)
    for name, transform in (("rsa2048", xmlsec.constants.TransformRsaSha256), ("p256", xmlsec.constants.TransformEcdsaSha256)):
        key = xmlsec.Key.from_file(str(d / f"{name}.key"), xmlsec.constants.KeyDataFormatPem)
        key.load_cert_from_file(str(d / f"{name}.pem"), xmlsec.constants.KeyDataFormatPem)

        def do_sign():
            root = etree.fromstring(data)
            sig = xmlsec.template.create(root, xmlsec.constants.TransformExclC14N, transform, ns="ds")
            trace = root.find(f".//{{{NS}}}TraceHeaderList")
            trace.addnext(sig)
            ref = xmlsec.template.add_reference(sig, xmlsec.constants.TransformSha256, uri="")
            xmlsec.template.add_transform(ref, xmlsec.constants.TransformEnveloped)
            xmlsec.template.add_transform(ref, xmlsec.constants.TransformExclC14N)
            ki = xmlsec.template.ensure_key_info(sig)
            xmlsec.template.add_x509_data(ki)
            ctx = xmlsec.SignatureContext()
            ctx.key = key
            ctx.sign(sig)
            return etree.tostring(root)

        signed = do_sign()

        def do_verify():
            root = etree.fromstring(signed)
            node = xmlsec.tree.find_node(root, xmlsec.constants.NodeSignature)
            xmlsec.SignatureContext(manager).verify(node)

        do_verify()
        s = rate(do_sign)
        v = rate(do_verify)
        both = rate(lambda: (do_sign(), do_verify()))
        print(f"{name}: sign {s:.0f}/s, verify {v:.0f}/s, sign+verify {both:.0f}/s")


if __name__ == "__main__":
    main(sys.argv[1] if len(sys.argv) > 1 else "target/bench-xmldsig")
