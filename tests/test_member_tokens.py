"""Member tokens: pinned algorithm, exp/aud/iss/sub/brand checked against the database, kid rotation, revocation."""

from __future__ import annotations

import base64
import json
import uuid
from datetime import UTC, datetime, timedelta

import jwt
from sqlalchemy import text

from solomo.auth.member_tokens import MemberTokenCodec
from tests.conftest import TEST_SIGNING_KEYS, BrandContext


def _codec(active: str = "test-1", keys: dict[str, str] | None = None, **kw: object) -> MemberTokenCodec:
    options: dict[str, object] = {"issuer": "solomo", "audience": "solomo-app", "ttl_seconds": 600} | kw
    return MemberTokenCodec(keys or TEST_SIGNING_KEYS, active, **options)  # type: ignore[arg-type]


async def _me(brand: BrandContext, token: str) -> tuple[int, dict[str, object]]:
    answer = await brand.client.get("/v1/members/me", headers=brand.bearer(token))
    return answer.status_code, answer.json()


async def test_minted_token_reaches_member_routes(brand: BrandContext) -> None:
    member = await brand.member("m-1")
    minted = await brand.client.post(f"/v1/members/{member['id']}/tokens", headers=brand.admin)
    body = minted.json()
    assert body["token_type"] == "Bearer"
    expires = datetime.fromisoformat(body["expires_at"])
    assert timedelta(minutes=1) < expires - datetime.now(UTC) <= timedelta(minutes=10)
    header = jwt.get_unverified_header(body["token"])
    assert header == {"alg": "HS256", "kid": "test-1", "typ": "JWT"}
    claims = jwt.decode(body["token"], options={"verify_signature": False})
    assert {"exp", "iat", "iss", "aud", "sub", "brand", "ver"} <= claims.keys()
    status, me = await _me(brand, body["token"])
    assert status == 200
    assert me["id"] == member["id"]


async def test_expired_token_is_401(brand: BrandContext) -> None:
    member = await brand.member()
    token, _ = _codec().mint(brand.id, uuid.UUID(member["id"]), 0, now=datetime.now(UTC) - timedelta(hours=1))
    status, body = await _me(brand, token)
    assert status == 401
    assert "expired" in str(body["detail"])


async def test_tampered_token_is_401(brand: BrandContext, other_brand: BrandContext) -> None:
    member = await brand.member()
    token = await brand.member_token(member["id"])
    head, payload, signature = token.split(".")
    claims = json.loads(base64.urlsafe_b64decode(payload + "=" * (-len(payload) % 4)))
    other = await other_brand.member()
    claims["sub"] = other["id"]
    forged = base64.urlsafe_b64encode(json.dumps(claims).encode()).decode().rstrip("=")
    assert (await _me(brand, f"{head}.{forged}.{signature}"))[0] == 401
    flipped = signature[:-2] + ("AA" if signature[-2:] != "AA" else "BB")
    assert (await _me(brand, f"{head}.{payload}.{flipped}"))[0] == 401


async def test_wrong_brand_is_401(brand: BrandContext, other_brand: BrandContext) -> None:
    member = await brand.member()
    # Correctly signed, but claiming the member belongs to another brand.
    token, _ = _codec().mint(other_brand.id, uuid.UUID(member["id"]), 0)
    assert (await _me(brand, token))[0] == 401


async def test_algorithm_is_pinned(brand: BrandContext) -> None:
    member = await brand.member()
    claims = {
        "iss": "solomo", "aud": "solomo-app", "sub": member["id"], "brand": str(brand.id), "ver": 0,
        "iat": int(datetime.now(UTC).timestamp()), "exp": int((datetime.now(UTC) + timedelta(minutes=5)).timestamp()),
    }  # fmt: skip
    unsigned = jwt.encode(claims, key=None, algorithm="none", headers={"kid": "test-1"})
    assert (await _me(brand, unsigned))[0] == 401
    hs512 = jwt.encode(claims, TEST_SIGNING_KEYS["test-1"], algorithm="HS512", headers={"kid": "test-1"})
    assert (await _me(brand, hs512))[0] == 401
    # The same claims with the pinned algorithm pass, so the refusals above are about the algorithm.
    good = jwt.encode(claims, TEST_SIGNING_KEYS["test-1"], algorithm="HS256", headers={"kid": "test-1"})
    assert (await _me(brand, good))[0] == 200


async def test_wrong_audience_issuer_or_missing_claim_is_401(brand: BrandContext) -> None:
    member_id = uuid.UUID((await brand.member())["id"])
    assert (await _me(brand, _codec(audience="someone-else").mint(brand.id, member_id, 0)[0]))[0] == 401
    assert (await _me(brand, _codec(issuer="evil").mint(brand.id, member_id, 0)[0]))[0] == 401
    now = datetime.now(UTC)
    no_brand = jwt.encode(
        {"iss": "solomo", "aud": "solomo-app", "sub": str(member_id), "ver": 0,
         "iat": int(now.timestamp()), "exp": int((now + timedelta(minutes=5)).timestamp())},
        TEST_SIGNING_KEYS["test-1"], algorithm="HS256", headers={"kid": "test-1"},
    )  # fmt: skip
    assert (await _me(brand, no_brand))[0] == 401


async def test_key_rotation_by_kid(brand: BrandContext) -> None:
    member_id = uuid.UUID((await brand.member())["id"])
    # Signed with the older key, still listed: accepted.
    older, _ = _codec(active="test-0").mint(brand.id, member_id, 0)
    assert (await _me(brand, older))[0] == 200
    # Signed with a key the server does not list: refused.
    stranger, _ = _codec(active="gone", keys={"gone": "g" * 48}).mint(brand.id, member_id, 0)
    assert (await _me(brand, stranger))[0] == 401


async def test_token_version_bump_revokes(brand: BrandContext) -> None:
    member = await brand.member()
    token = await brand.member_token(member["id"])
    assert (await _me(brand, token))[0] == 200
    async with brand.sessions() as session:
        await session.execute(
            text("UPDATE members SET token_version = token_version + 1 WHERE id = :id"), {"id": member["id"]}
        )
        await session.commit()
    status, body = await _me(brand, token)
    assert status == 401
    assert "revoked" in str(body["detail"])
    # A freshly minted token carries the new version.
    assert (await _me(brand, await brand.member_token(member["id"])))[0] == 200


async def test_member_of_other_brand_is_404(brand: BrandContext, other_brand: BrandContext) -> None:
    theirs = await other_brand.member()
    for answer in (
        await brand.client.get(f"/v1/members/{theirs['id']}", headers=brand.admin),
        await brand.client.post(f"/v1/members/{theirs['id']}/tokens", headers=brand.admin),
    ):
        assert answer.status_code == 404
        assert answer.json()["code"] == "not_found"
    missing = await brand.client.get(f"/v1/members/{uuid.uuid4()}", headers=brand.admin)
    assert (
        missing.json()["detail"]
        == (await brand.client.get(f"/v1/members/{theirs['id']}", headers=brand.admin)).json()["detail"]
    )
