"""Enveloped XML-DSig (``gateway.signing.dsig_profile``): shapes outside the profile we emit.

Each case edits a good signed receipt into a shape the profile does not allow, then signs its
``SignedInfo`` again with the trusted key (``resign``): the signature value is right and the
digest still matches, so only the profile check can refuse it — with the stable code named.
"""

from __future__ import annotations

import copy
from collections.abc import Callable
from pathlib import Path

import pytest
from lxml import etree
from signing_helpers import DS, EXC_C14N, find_ds, reason, resign

from gateway.errors import SignatureInvalid
from gateway.signing.keys import SigningKey, TrustStore
from gateway.signing.xmldsig import verify_enveloped

pytest_plugins = ["signing_helpers"]     # fixtures: gateway_key, trust, signed

Edit = Callable[[etree._Element], None]


def _ds(tag: str) -> str:
    return f"{{{DS}}}{tag}"


def _at(path: str) -> Callable[[etree._Element], etree._Element]:
    return lambda signature: find_ds(signature, path)


SIGNED_INFO = _at("ds:SignedInfo")
REFERENCE = _at("ds:SignedInfo/ds:Reference")
TRANSFORMS = _at("ds:SignedInfo/ds:Reference/ds:Transforms")
KEY_INFO = _at("ds:KeyInfo")


def _set(where: Callable[[etree._Element], etree._Element], name: str, value: str) -> Edit:
    return lambda signature: where(signature).set(name, value)


def _add(where: Callable[[etree._Element], etree._Element], tag: str, index: int = -1,
         **attributes: str) -> Edit:
    def edit(signature: etree._Element) -> None:
        parent = where(signature)
        child = etree.Element(tag, attributes)
        if index < 0:
            parent.append(child)
        else:
            parent.insert(index, child)
    return edit


def _text(where: Callable[[etree._Element], etree._Element], text: str) -> Edit:
    def edit(signature: etree._Element) -> None:
        where(signature).text = text
    return edit


def _inclusive_namespaces(where: Callable[[etree._Element], etree._Element]) -> Edit:
    def edit(signature: etree._Element) -> None:
        etree.SubElement(where(signature), f"{{{EXC_C14N}}}InclusiveNamespaces",
                         PrefixList="gw xsi")
    return edit


def _reverse_transforms(signature: etree._Element) -> None:
    transforms = TRANSFORMS(signature)
    transforms.insert(0, transforms[1])


def _drop_first_transform(signature: etree._Element) -> None:
    transforms = TRANSFORMS(signature)
    transforms.remove(transforms[0])


def _swap_value_and_key_info(signature: etree._Element) -> None:
    signature.insert(1, KEY_INFO(signature))


def _duplicate_signed_info(signature: etree._Element) -> None:
    SIGNED_INFO(signature).addnext(copy.deepcopy(SIGNED_INFO(signature)))


def _processing_instruction(signature: etree._Element) -> None:
    SIGNED_INFO(signature).append(etree.ProcessingInstruction("attacker", "x"))


def _short_digest(signature: etree._Element) -> None:
    find_ds(REFERENCE(signature), "ds:DigestValue").text = "AAAA"


CASES: list[tuple[str, Edit, str]] = [
    ("Id attribute on ds:Signature", _set(lambda s: s, "Id", "sig-1"), "GW-SIGNATURE-PROFILE"),
    ("Type attribute on ds:Reference",
     _set(REFERENCE, "Type", "http://www.w3.org/2000/09/xmldsig#Object"),
     "GW-SIGNATURE-PROFILE"),
    ("ds:Object", _add(lambda s: s, _ds("Object")), "GW-SIGNATURE-PROFILE"),
    ("ds:Manifest in SignedInfo", _add(SIGNED_INFO, _ds("Manifest")), "GW-SIGNATURE-PROFILE"),
    ("foreign element in SignedInfo", _add(SIGNED_INFO, "{urn:attacker}Extra"),
     "GW-SIGNATURE-PROFILE"),
    ("two SignedInfo", _duplicate_signed_info, "GW-SIGNATURE-PROFILE"),
    ("KeyInfo before SignatureValue", _swap_value_and_key_info, "GW-SIGNATURE-PROFILE"),
    ("ds:KeyName in KeyInfo", _add(KEY_INFO, _ds("KeyName"), 0), "GW-SIGNATURE-PROFILE"),
    ("X509IssuerSerial in X509Data", _add(_at("ds:KeyInfo/ds:X509Data"), _ds("X509IssuerSerial")),
     "GW-SIGNATURE-PROFILE"),
    ("InclusiveNamespaces on the exc-C14N transform",
     _inclusive_namespaces(lambda s: TRANSFORMS(s)[1]), "GW-SIGNATURE-PROFILE"),
    ("InclusiveNamespaces on CanonicalizationMethod",
     _inclusive_namespaces(_at("ds:SignedInfo/ds:CanonicalizationMethod")),
     "GW-SIGNATURE-PROFILE"),
    ("text inside SignedInfo", _text(SIGNED_INFO, "approved"), "GW-SIGNATURE-PROFILE"),
    ("processing instruction in SignedInfo", _processing_instruction, "GW-SIGNATURE-PROFILE"),
    ("DigestValue not 32 bytes", _short_digest, "GW-SIGNATURE-PROFILE"),
    ("empty Reference URI (whole document)", _set(REFERENCE, "URI", ""),
     "GW-SIGNATURE-REFERENCE"),
    ("XPointer Reference URI", _set(REFERENCE, "URI", "#xpointer(/)"), "GW-SIGNATURE-REFERENCE"),
    ("external Reference URI", _set(REFERENCE, "URI", "http://attacker.test/receipt.xml"),
     "GW-SIGNATURE-REFERENCE"),
    ("transforms in reverse order", _reverse_transforms, "GW-SIGNATURE-ALGORITHM"),
    ("enveloped-signature transform missing", _drop_first_transform, "GW-SIGNATURE-ALGORITHM"),
    ("third transform", _add(TRANSFORMS, _ds("Transform"), Algorithm=EXC_C14N),
     "GW-SIGNATURE-ALGORITHM"),
    ("XSLT transform", _add(TRANSFORMS, _ds("Transform"),
                            Algorithm="http://www.w3.org/TR/1999/REC-xslt-19991116"),
     "GW-SIGNATURE-ALGORITHM"),
    ("C14N 1.1", _set(_at("ds:SignedInfo/ds:CanonicalizationMethod"), "Algorithm",
                      "http://www.w3.org/2006/12/xml-c14n11"), "GW-SIGNATURE-ALGORITHM"),
    ("exclusive C14N with comments as transform",
     _set(lambda s: TRANSFORMS(s)[1], "Algorithm",
          "http://www.w3.org/2001/10/xml-exc-c14n#WithComments"), "GW-SIGNATURE-ALGORITHM"),
]


@pytest.mark.parametrize(("edit", "code"), [(edit, code) for _, edit, code in CASES],
                         ids=[name for name, _, _ in CASES])
def test_verify_enveloped_signature_outside_the_profile_is_refused(
        edit: Edit, code: str, gateway_key: tuple[SigningKey, Path], trust: TrustStore,
        signed: bytes) -> None:
    """A validly re-signed signature with one element, attribute or algorithm too many."""
    root = etree.fromstring(signed)
    signature = find_ds(root, "ds:Signature")
    edit(signature)
    resign(signature, gateway_key[0])

    with pytest.raises(SignatureInvalid) as exc_info:
        verify_enveloped(root, trust)
    assert reason(exc_info) == code, exc_info.value.message


def test_verify_enveloped_resigned_unchanged_signature_still_verifies(
        gateway_key: tuple[SigningKey, Path], trust: TrustStore, signed: bytes) -> None:
    """The control for the cases above: re-signing alone leaves a signature we accept."""
    root = etree.fromstring(signed)
    resign(find_ds(root, "ds:Signature"), gateway_key[0])

    assert verify_enveloped(root, trust).owner == "gateway"


@pytest.mark.parametrize("where", ["second-on-root", "nested-in-child"])
def test_verify_enveloped_second_signature_in_the_element_is_refused(
        where: str, trust: TrustStore, signed: bytes) -> None:
    """Exactly one ds:Signature may sit in the signed element, wherever another is put."""
    root = etree.fromstring(signed)
    extra = copy.deepcopy(find_ds(root, "ds:Signature"))
    (root if where == "second-on-root" else root[1]).append(extra)

    with pytest.raises(SignatureInvalid) as exc_info:
        verify_enveloped(root, trust)
    assert reason(exc_info) == "GW-SIGNATURE-PROFILE"


def test_verify_enveloped_signature_value_not_base64_is_refused_as_profile(
        trust: TrustStore, signed: bytes) -> None:
    """A SignatureValue that is not base64 is refused as outside the profile, not a crash."""
    root = etree.fromstring(signed)
    find_ds(root, "ds:Signature/ds:SignatureValue").text = "not base64!"

    with pytest.raises(SignatureInvalid) as exc_info:
        verify_enveloped(root, trust)
    assert reason(exc_info) == "GW-SIGNATURE-PROFILE"


def test_verify_enveloped_refusal_messages_name_what_was_found(
        gateway_key: tuple[SigningKey, Path], trust: TrustStore, signed: bytes) -> None:
    """A refusal says which algorithm or element it met, so a partner can fix its signer."""
    root = etree.fromstring(signed)
    signature = find_ds(root, "ds:Signature")
    find_ds(signature, "ds:SignedInfo/ds:Reference/ds:DigestMethod").set(
        "Algorithm", "http://www.w3.org/2000/09/xmldsig#sha1")
    resign(signature, gateway_key[0])
    with pytest.raises(SignatureInvalid) as exc_info:
        verify_enveloped(root, trust)
    assert "SHA-1" in exc_info.value.message and "SHA-256" in exc_info.value.message

    root = etree.fromstring(signed)
    etree.SubElement(find_ds(root, "ds:Signature"), _ds("Object"))
    with pytest.raises(SignatureInvalid) as exc_info:
        verify_enveloped(root, trust)
    assert "ds:Object" in exc_info.value.message
