#!/usr/bin/env python3
"""Writes the seed corpus of every fuzz target into corpus/<target>/ (small files).

Tokens are signed with the fuzz fixtures (src/lib.rs: SECRET_A, core/tests/fixtures keys) and
cookies are sealed with COOKIE_SECRET_A exactly as core/src/seal.rs does, so the seeds reach
past the signature and the AEAD. Deterministic: re-running rewrites the same files (except the
ECDSA/PSS signatures, which are randomized). Needs python3-cryptography.
Run from anywhere: python3 core/fuzz/make_seeds.py
"""

import base64
import hashlib
import hmac
import json
import os

from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec, padding
from cryptography.hazmat.primitives.ciphers.aead import AESGCM
from cryptography.hazmat.primitives.kdf.hkdf import HKDF

HERE = os.path.dirname(os.path.abspath(__file__))
FIXTURES = os.path.join(HERE, "..", "tests", "fixtures")
CORPUS = os.path.join(HERE, "corpus")

ISS = "https://auth.example/application/o/app/"
AUD = "client"
SECRET_A = b"client-secret-A-client-secret-A-client-secret-A"
SECRET_B = b"client-secret-B-client-secret-B-client-secret-B"
COOKIE_SECRET_A = b"cookie-secret-A-cookie-secret-A-cookie-secret-A"
NOW = 1_750_000_000
# The provider's default cookie name: authentik_nginx_ + sha256(client_id)[:4] hex.
COOKIE_NAME = "authentik_nginx_" + hashlib.sha256(AUD.encode()).hexdigest()[:8]


def b64(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode()


def key(name):
    with open(os.path.join(FIXTURES, f"keys_{name}.pem"), "rb") as f:
        return serialization.load_pem_private_key(f.read(), None)


def jwt(header: dict, claims: dict, alg="HS256", signer=SECRET_A) -> str:
    msg = f"{b64(json.dumps(header, separators=(',', ':')).encode())}." \
          f"{b64(json.dumps(claims, separators=(',', ':')).encode())}"
    m = msg.encode()
    if alg.startswith("HS"):
        h = {"HS256": hashlib.sha256, "HS384": hashlib.sha384, "HS512": hashlib.sha512}[alg]
        sig = hmac.new(signer, m, h).digest()
    elif alg == "RS256":
        sig = key(signer).sign(m, padding.PKCS1v15(), hashes.SHA256())
    elif alg == "PS256":
        sig = key(signer).sign(m, padding.PSS(padding.MGF1(hashes.SHA256()), 32), hashes.SHA256())
    elif alg == "ES256":
        from cryptography.hazmat.primitives.asymmetric.utils import decode_dss_signature
        r, s = decode_dss_signature(key("ec256").sign(m, ec.ECDSA(hashes.SHA256())))
        sig = r.to_bytes(32, "big") + s.to_bytes(32, "big")
    elif alg == "EdDSA":
        sig = key("ed25519").sign(m)
    else:
        sig = b""
    return f"{msg}.{b64(sig)}"


def claims(**extra):
    c = {"iss": ISS, "aud": AUD, "sub": "f00d", "exp": NOW + 300, "iat": NOW,
         "preferred_username": "akadmin", "email": "root@example.test",
         "name": "authentik Default Admin", "groups": ["authentik Admins", "users"],
         "ak_proxy": {"user_attributes": {"additionalHeaders": {"X-Foo": "bar"}}}}
    c.update(extra)
    return c


def seal(purpose: str, name: str, plaintext: bytes, nonce=b"\x07" * 12) -> str:
    k = HKDF(algorithm=hashes.SHA256(), length=32, salt=b"ngx_http_authentik_module v1",
             info=purpose.encode()).derive(COOKIE_SECRET_A)
    ct = AESGCM(k).encrypt(nonce, plaintext, name.encode())
    return b64(bytes([1]) + nonce + ct)


def chunks(name: str, sealed: str, limit=3800):
    if len(sealed) <= limit:
        return [(name, sealed)]
    count = -(-(len(sealed) + 2) // limit)
    first, rest = sealed[:limit - 2], sealed[limit - 2:]
    out = [(name, f"{count}.{first}")]
    for i in range(1, count):
        out.append((f"{name}_{i}", rest[:limit]))
        rest = rest[limit:]
    return out


def write(target: str, files: dict):
    # Files of other origins (kept crash inputs, "regression-*") stay.
    d = os.path.join(CORPUS, target)
    os.makedirs(d, exist_ok=True)
    for fname, data in files.items():
        if isinstance(data, str):
            data = data.encode()
        with open(os.path.join(d, fname), "wb") as f:
            f.write(data)


def main():
    hs = {"alg": "HS256", "typ": "JWT"}
    valid = jwt(hs, claims())
    big = jwt(hs, claims(groups=[f"group-{i:05d}" for i in range(400)]))
    tokens = {
        "hs256_valid": valid,
        "hs256_kid": jwt({"alg": "HS256", "kid": "whatever"}, claims()),
        "hs256_aud_list": jwt(hs, claims(aud=["other", AUD])),
        "hs256_float_exp": jwt(hs, claims(exp=NOW + 300.5, nbf=NOW - 1.25)),
        "hs256_expired": jwt(hs, claims(exp=NOW - 3600)),
        "hs256_wrong_iss": jwt(hs, claims(iss="https://evil.example/")),
        "hs256_key_b": jwt(hs, claims(), signer=SECRET_B),
        "hs512": jwt({"alg": "HS512"}, claims(), alg="HS512"),
        "rs256_rsa1": jwt({"alg": "RS256", "kid": "rsa1-rs256"}, claims(), "RS256", "rsa1"),
        "rs256_no_kid": jwt({"alg": "RS256"}, claims(), "RS256", "rsa1"),
        "rs256_rsa2_under_rsa1_kid": jwt({"alg": "RS256", "kid": "rsa1-rs256"}, claims(), "RS256", "rsa2"),
        "ps256": jwt({"alg": "PS256", "kid": "rsa1-ps256"}, claims(), "PS256", "rsa1"),
        "es256": jwt({"alg": "ES256", "kid": "ec256"}, claims(), "ES256"),
        "eddsa": jwt({"alg": "EdDSA", "kid": "ed25519"}, claims(), "EdDSA"),
        "alg_none": jwt({"alg": "none"}, claims(), "none"),
        "crit": jwt({"alg": "HS256", "crit": ["exp"]}, claims()),
        "big_groups": big,
        "padded": valid.split(".")[0] + "==." + ".".join(valid.split(".")[1:]),
        "two_parts": ".".join(valid.split(".")[:2]),
        "dots": "..",
        "deep": b64(b'{"alg":"HS256"}') + "." + b64(b"[" * 40 + b"]" * 40) + ".AAAA",
    }
    write("token_verify", tokens)

    # token_signed_json: header \0 payload
    c = claims()
    write("token_signed_json", {
        "valid": json.dumps(hs) + "\0" + json.dumps(c),
        "payload_only": json.dumps(c),
        "aud_list": json.dumps(claims(aud=[AUD, 1, None])),
        "float_times": json.dumps(claims(exp=1.75e9 + 300.25, iat=1.75e9, nbf=-0.0)),
        "big_numbers": '{"iss":"%s","aud":"%s","exp":18446744073709551615,"nbf":-9223372036854775808,"iat":1e308}' % (ISS, AUD),
        "duplicates": '{"iss":"x","iss":"%s","aud":"%s","exp":%d}' % (ISS, AUD, NOW + 60),
        "escapes": '{"iss":"https:\\/\\/auth.example\\/application\\/o\\/app\\/","aud":"\\u0063lient","exp":%d}' % (NOW + 60),
        "kid_number": '{"alg":"HS256","kid":7}\0' + json.dumps(c),
        "deep_ok": json.dumps(hs) + "\0" + '{"iss":"%s","aud":"%s","exp":%d,"x":%s}' % (ISS, AUD, NOW + 60, "[" * 31 + "]" * 31),
        "deep_bad": json.dumps(hs) + "\0" + '{"x":%s}' % ("[" * 32 + "]" * 32),
        "deep_in_string": json.dumps(hs) + "\0" + '{"x":"%s\\"[[","iss":"%s","aud":"%s","exp":%d}' % ("[" * 40, ISS, AUD, NOW + 60),
        "not_object": json.dumps(hs) + "\0[1,2,3]",
    })

    # seal_open: selector byte (0 = the session cookie name) + sealed value
    token = valid.encode()
    sealed = seal("session", COOKIE_NAME, token)
    big_sealed = seal("session", COOKIE_NAME, big.encode())
    parts = chunks(COOKIE_NAME, big_sealed)
    write("seal_open", {
        "session": b"\x00" + sealed.encode(),
        "session_name_s": b"\x01" + seal("session", "s", token).encode(),
        "login_state": b"\x00" + seal("login-state", COOKIE_NAME, b'{"s":"x"}').encode(),
        "short": b"\x00" + b64(b"\x01" + b"\x00" * 20).encode(),
        "version2": b"\x00" + b64(b"\x02" + b"\x00" * 40).encode(),
        "padded": b"\x00" + sealed.encode() + b"==",
        "chunked_header": b"\x00" + "; ".join(f"{n}={v}" for n, v in parts).encode(),
        "chunked_split": b"\x00" + "\n".join(f"{n}={v}" for n, v in parts).encode(),
    })

    # cookie_find: name \0 header \0 header ...
    hdr = "; ".join(f"{n}={v}" for n, v in parts)
    write("cookie_find", {
        "simple": "s\0a=1; s=2; b=3",
        "quoted": 's\0s="quoted value" ; t=x',
        "tabs": "s\0 \ts\t=\tv\t;x=y",
        "prefix_suffix": "sid\0xsid=1; sidx=2; sid =3",
        "no_eq": "s\0s; s=after",
        "empty": "s\0s=",
        "duplicates": "s\0s=first\0s=second",
        "chunked": f"{COOKIE_NAME}\0{hdr}",
        "chunked_split": COOKIE_NAME + "\0" + "\0".join(f"{n}={v}" for n, v in reversed(parts)),
        "chunked_missing": f"{COOKIE_NAME}\0{COOKIE_NAME}=3.abc; {COOKIE_NAME}_2=ghi",
        "bad_count": "s\0s=9.abc; s_1=x",
        "leading_zero": "s\0s=002.abc; s_1=def",
        "quoted_chunk": 's\0s="2.abc"; s_1="def"',
        "long_header": "s\0" + "; ".join(f"c{i}=v{i}" for i in range(200)) + "; s=last",
        "raw": "a=b; s=c.d; e",
    })

    # validate_rd: provider selector byte + rd
    rds = [
        "https://app.example/deep?x=1", "/relative/path?q=1#frag", "//evil.example/",
        "\\\\evil.example", "/\\evil.example", "https://user@evil.example/",
        "https://app.example@evil.example/", "https://app.example.evil.com/",
        "https://evil.com/https://app.example/", "https://app.example:443/",
        "https://app.example:8443/", "http://app.example/", "HTTPS://APP.EXAMPLE./x",
        "https://аpp.example/", "https://app.example%2f@evil.example/",
        "https://app%2eexample/", "https://app.example%00.evil/", "javascript:alert(1)",
        "https:/app.example", "https:app.example", "https:///app.example",
        "https://app.example\t.evil/", "https://[::1]:443/", "https://app.example:+443/",
        "https://x.company.tld/", "https://company.tld.evil/", "https://evilcompany.tld/",
        "https://a.b.company.tld:8443/p", "https://company.tld./", "/%2e%2e/x",
        "https://app.example#@evil.example", "https://app.example?@evil.example",
        "https://evil.example:.company.tld:443/", "ftp://app.example/",
    ]
    files = {}
    for i, rd in enumerate(rds):
        for sel in (0, 2):
            files[f"rd{i:02d}_{sel}"] = bytes([sel]) + rd.encode()
    write("validate_rd", files)

    # skip_paths: even byte = subject; odd byte = pattern \0 subject
    write("skip_paths", {
        "public": b"\x00/public/x", "skip": b"\x00/a/skip/b", "css": b"\x00/s/app.css",
        "css_nl": b"\x00/s/app.css\n", "none": b"\x00/app",
        "pattern": b"\x01^/api/v[0-9]+/health$\0/api/v2/health",
        "unicode": b"\x01\\p{Greek}+\0/\xce\xb1",
        "big_repeat": b"\x01a{1000}{1000}\0aaaa",
        "blank": b"\x01   \0/x",
        "domain": b"\x01^https://app\\.company\\.tld/static/\0https://app.company.tld/static/x?y",
        "bad": b"\x01(\0x",
    })

    # identity_sanitize: 0 + text, 1 + claims JSON, else structured
    write("identity_sanitize", {
        "text": b"\x00a\r\nX-Injected: 1\x7f\tZo\xc3\xab",
        "claims": b"\x01" + json.dumps(claims(
            entitlements=["a\nb"], name="x\r\ny",
            ak_proxy={"user_attributes": {
                "additionalHeaders": {"X-Foo": "bar", "X-Num": 7, "X-Null": None, "Bad_Name": "x",
                                      "X-authentik-username": "evil", "X-Ctl": "a\r\nb",
                                      "X-Obj": {"k": "\u0000"}},
                "basic_user": "svc", "basic_password": "s3cret\r\n"}})).encode(),
        "structured": bytes(range(256)),
    })

    with open(os.path.join(FIXTURES, "keys_jwks.json"), "rb") as f:
        jwks = f.read()
    write("jwks", {
        "fixture": b"\x00\x00" + jwks,
        "fixture_allow": b"\xff\x00" + jwks,
        "empty": b"\x00\x00" + b'{"keys":[]}',
        "oct": b"\x00\x00" + b'{"keys":[{"kty":"oct","k":"c2VjcmV0"}]}',
        "private": b"\x00\x00" + b'{"keys":[{"kty":"EC","crv":"P-256","x":"AA","y":"AA","d":"AA"}]}',
        "ec_off_curve": b"\x00\x00" + b'{"keys":[{"kty":"EC","crv":"P-256","x":"AQ","y":"Ag"}]}',
        "small_rsa": b"\x00\x00" + b'{"keys":[{"kty":"RSA","n":"AQAB","e":"AQAB"}]}',
        "okp": b"\x00\x00" + ('{"keys":[{"kty":"OKP","crv":"Ed25519","x":"%s"}]}' % b64(b"\x01" * 32)).encode(),
    })

    write("url_misc", {
        "query": "X-authentik-auth-callback=true&code=abc&state=s%2Fx&rd=https%3A%2F%2Fapp.example%2F&empty",
        "bad_escape": "rd=%zz&state=%2",
        "bearer": "Bearer  " + valid + " ",
        "seconds": "90", "minutes": "5m", "big": "18446744073709551615s",
        "unicode": "é+%C3%A9",
    })

    # Structured (arbitrary) targets: a few byte strings of different lengths.
    for t in ["token_structured", "seal_roundtrip", "login_state", "finish_login"]:
        write(t, {f"bytes{n}": bytes((i * 37 + n) % 256 for i in range(n)) for n in (16, 64, 256, 1024)})


if __name__ == "__main__":
    main()
