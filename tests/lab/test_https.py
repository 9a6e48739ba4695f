"""HTTPS on the balancer from the Vagrant host: the lab CA, HTTP/2, HSTS, TLS 1.2+ only."""

import datetime
import json
import re
import socket
import ssl
import warnings
from pathlib import Path

import pytest
from certs import write_self_signed
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from helpers import ROOT, run
from lab_helpers import BALANCER, PORTS, SUBNET, balancer_answers, lab_env, provision

pytestmark = [pytest.mark.docker, pytest.mark.slow]
CA = ROOT / ".lab/ca.crt"
HTTPS = ("127.0.0.1", PORTS["https"])
HTTPS_URL = f"https://{HTTPS[0]}:{HTTPS[1]}"


def handshake(context: ssl.SSLContext, server_name: str = "127.0.0.1") -> ssl.SSLSocket:
    sock = socket.create_connection(HTTPS, timeout=5)
    return context.wrap_socket(sock, server_hostname=server_name)


def test_the_readme_curl_verifies_against_the_lab_ca(lab) -> None:
    # The README's command, as a user types it: no -k.
    out = run("curl", "-fsS", "--cacert", ".lab/ca.crt", f"{HTTPS_URL}/", timeout=30)
    assert "Replica: app" in out.stdout


def test_http2_and_hsts_over_verified_tls(lab) -> None:
    context = ssl.create_default_context(cafile=CA)
    context.set_alpn_protocols(["h2", "http/1.1"])
    with handshake(context, "localhost") as tls:
        assert tls.selected_alpn_protocol() == "h2"
        assert tls.version() in {"TLSv1.2", "TLSv1.3"}
    out = run(
        "curl", "-fsS", "--cacert", str(CA), "-D", "-", "-o", "/dev/null", "-w", "%{http_version}",
        f"{HTTPS_URL}/api/whoami", timeout=30,
    ).stdout  # fmt: skip
    assert out.startswith("HTTP/2 200")
    assert "strict-transport-security: max-age=63072000" in out.lower()
    assert out.endswith("2")


def test_https_reaches_every_replica(lab) -> None:
    seen = set()
    for _ in range(36):
        body = run(
            "curl", "-fsS", "--cacert", str(CA), f"{HTTPS_URL}/api/whoami", timeout=30
        ).stdout
        seen.add(json.loads(body)["replica"])
    assert seen == {f"app{h}-r{r}" for h in (1, 2) for r in (1, 2, 3)}


def test_tls_1_1_is_refused_by_the_balancer(lab) -> None:
    old = ssl.SSLContext(ssl.PROTOCOL_TLS_CLIENT)
    old.load_verify_locations(CA)
    # SECLEVEL=0 lets this client offer TLS 1.1: the refusal must come from the server.
    old.set_ciphers("DEFAULT@SECLEVEL=0")
    with warnings.catch_warnings():  # TLSv1_1 is deprecated: that is the point
        warnings.simplefilter("ignore", DeprecationWarning)
        old.minimum_version = old.maximum_version = ssl.TLSVersion.TLSv1_1
    with pytest.raises(ssl.SSLError, match="PROTOCOL_VERSION"):
        handshake(old).close()
    old.minimum_version = old.maximum_version = ssl.TLSVersion.TLSv1_2
    handshake(old).close()


def test_the_lab_ca_key_is_its_owners_alone(lab) -> None:
    private = ROOT / ".lab/tls"
    assert private.stat().st_mode & 0o777 == 0o700
    for key in ("ca.key", "balancer.key"):
        assert (private / key).stat().st_mode & 0o777 == 0o600, key


def test_the_lab_ca_signs_for_the_lab_alone_and_lives_a_year(lab, tmp_path) -> None:
    ca = x509.load_pem_x509_certificate(CA.read_bytes())
    constraints = ca.extensions.get_extension_for_class(x509.NameConstraints)
    assert constraints.critical
    permitted = {str(name.value) for name in constraints.value.permitted_subtrees or []}
    assert permitted == {"balancer", "localhost", "127.0.0.1/32", "::1/128", SUBNET}
    assert ca.not_valid_after_utc - ca.not_valid_before_utc <= datetime.timedelta(days=366)
    assert run("openssl", "verify", "-CAfile", str(CA), ".lab/tls/balancer.crt").returncode == 0
    # Even signed with the CA's own key, a certificate for another name does not verify.
    ca_key = serialization.load_pem_private_key((ROOT / ".lab/tls/ca.key").read_bytes(), None)
    assert isinstance(ca_key, ec.EllipticCurvePrivateKey)
    for name, addresses in (("evil.example", ()), ("balancer", ("10.9.9.9",))):
        cert, _ = write_self_signed(tmp_path, name, addresses=addresses, issuer=(ca, ca_key))
        result = run("openssl", "verify", "-CAfile", str(CA), str(cert), check=False)
        assert result.returncode != 0, (name, addresses)
        assert "permitted subtree violation" in result.stdout + result.stderr, result.stdout


def test_a_bad_certificate_is_refused_before_any_host_changes(lab, tmp_path) -> None:
    cert, key = write_self_signed(tmp_path, "old.example", expired=True)
    result = run(
        "ansible-playbook", "playbook.yml",
        "-e", f"nginx_tls_certificate={cert}", "-e", f"nginx_tls_certificate_key={key}",
        env=lab_env(2), check=False, timeout=600,
    )  # fmt: skip
    output = result.stdout + result.stderr
    assert result.returncode != 0
    assert f"nginx_tls_certificate {cert} expired on" in " ".join(output.split())
    recap = output.rsplit("PLAY RECAP", 1)[1]
    assert recap.count("changed=0") == 3, recap
    # Stopped in the first play, the checks.
    plays = re.findall(r"^PLAY \[(.*)\]", output, re.MULTILINE)
    assert plays == ["Check every setting before any host changes"], plays
    assert len(balancer_answers(12)) >= 1


CA_NAME = x509.Name([x509.NameAttribute(x509.oid.NameOID.COMMON_NAME, "flask-lb-lab CA")])


def unconstrained_ca(key: ec.EllipticCurvePrivateKey) -> bytes:
    """A CA certificate as older labs made: ten years, for any name."""
    now = datetime.datetime.now(datetime.UTC)
    builder = x509.CertificateBuilder().subject_name(CA_NAME).issuer_name(CA_NAME)
    cert = (
        builder.public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now)
        .not_valid_after(now + datetime.timedelta(days=3650))
        .add_extension(x509.BasicConstraints(ca=True, path_length=0), critical=True)
        # As the lab's own tasks make it: the balancer's certificate names it as its issuer.
        .add_extension(x509.SubjectKeyIdentifier.from_public_key(key.public_key()), critical=False)
        .sign(key, hashes.SHA256())
    )
    return cert.public_bytes(serialization.Encoding.PEM)


def unconstrained_request(key: ec.EllipticCurvePrivateKey) -> bytes:
    """The CA's certificate request as older labs made it: no name constraints."""
    builder = x509.CertificateSigningRequestBuilder().subject_name(CA_NAME)
    request = builder.add_extension(
        x509.BasicConstraints(ca=True, path_length=0), critical=True
    ).sign(key, hashes.SHA256())
    return request.public_bytes(serialization.Encoding.PEM)


def public(key_path: Path) -> bytes:
    key = serialization.load_pem_private_key(key_path.read_bytes(), None)
    return key.public_key().public_bytes(
        serialization.Encoding.DER, serialization.PublicFormat.SubjectPublicKeyInfo
    )


def test_a_redirect_run_passes_its_own_check_and_replaces_an_unconstrained_ca(lab) -> None:
    # nginx_tls_redirect: the run checks the balancer by its redirect (following it would meet a
    # certificate the controller need not trust), and 7151 answers 301 to HTTPS; a plain run
    # undoes it.
    answer = ("curl", "-sS", "-o", "/dev/null", "-w", "%{http_code} %{redirect_url}",
              f"{BALANCER}/api/whoami")  # fmt: skip
    # The same run finds a CA an older lab made, for any name (its request too): it gets a new
    # key, so what the old one's key signs no longer verifies where a user trusted it.
    ca_key_path = ROOT / ".lab/tls/ca.key"
    old_key = public(ca_key_path)
    key = serialization.load_pem_private_key(ca_key_path.read_bytes(), None)
    assert isinstance(key, ec.EllipticCurvePrivateKey)
    CA.write_bytes(unconstrained_ca(key))
    (ROOT / ".lab/tls/ca.csr").write_bytes(unconstrained_request(key))
    try:
        provision(json.dumps({"nginx_tls_redirect": True}), app_hosts=2, limit="balancer")
        status, location = run(*answer, timeout=30).stdout.split()
        assert status == "301" and re.fullmatch(rf"https://[^/]+:{HTTPS[1]}/api/whoami", location)
    finally:
        provision(app_hosts=2, limit="balancer")
    assert run(*answer, timeout=30).stdout.strip() == "200"
    assert public(ca_key_path) != old_key
    new_ca = x509.load_pem_x509_certificate(CA.read_bytes())
    assert new_ca.extensions.get_extension_for_class(x509.NameConstraints).critical
    assert "Replica: app" in run("curl", "-fsS", "--cacert", str(CA), f"{HTTPS_URL}/",
                                 timeout=30).stdout  # fmt: skip
