from __future__ import annotations

import uuid
from datetime import datetime
from typing import Annotated, Any

from litestar import Controller, MediaType, Request, Response, delete, get, patch, post
from litestar.di import NamedDependency
from litestar.openapi import ResponseSpec
from litestar.params import FromPath, JSONBody, Parameter
from litestar.response import Stream
from litestar.status_codes import HTTP_200_OK, HTTP_201_CREATED
from sqlalchemy.ext.asyncio import AsyncSession

from solomo.auth.guards import ADMIN, MEMBER, allow
from solomo.auth.member_tokens import MemberTokenCodec
from solomo.auth.middleware import principal_of
from solomo.auth.principal import Role
from solomo.coordinates import CrsQuery
from solomo.members.schemas import (
    MemberExport,
    MemberOut,
    MemberPage,
    MemberPatch,
    MemberSelfPatch,
    MemberToken,
    MemberUpsert,
    MergeIn,
    Provider,
    SocialAccountIn,
    SocialAccountOut,
)
from solomo.members.service import MemberService
from solomo.openapi_contract import problems
from solomo.pagination import Cursor, Limit

#: Marketers read members for segments (without phone and email); managers have no business here.
READERS = allow(Role.ADMIN, Role.MARKETER)


def _service(request: Request[Any, Any, Any], session: AsyncSession) -> MemberService:
    return MemberService(session, principal_of(request))


def _me(request: Request[Any, Any, Any]) -> uuid.UUID:
    member_id = principal_of(request).member_id
    assert member_id is not None  # the MEMBER guard let only member tokens through
    return member_id


class MemberController(Controller):
    path = "/v1/members"
    tags = ["Members"]

    @post(
        guards=[ADMIN],
        summary="Create a member, or update the one with this external id or social account",
        opt=problems(
            {409: ["external_id_conflict", "social_account_taken"]}, also={200: "An existing member, updated"}
        ),
    )
    async def upsert_member(
        self, request: Request[Any, Any, Any], db_session: NamedDependency[AsyncSession], data: JSONBody[MemberUpsert]
    ) -> Response[MemberOut]:
        member, created = await _service(request, db_session).upsert(data)
        return Response(member, status_code=HTTP_201_CREATED if created else HTTP_200_OK)

    @get(guards=[READERS], summary="List members by tag, tier, social provider or joining date")
    async def list_members(
        self,
        request: Request[Any, Any, Any],
        db_session: NamedDependency[AsyncSession],
        limit: Limit = 50,
        cursor: Cursor = None,
        tag: Annotated[str | None, Parameter(max_length=50)] = None,
        tier: Annotated[str | None, Parameter(max_length=50)] = None,
        provider: Annotated[Provider | None, Parameter(description="Members with a linked account there.")] = None,
        joined_from: Annotated[datetime | None, Parameter(description="Joined at or after (ISO 8601).")] = None,
        joined_to: Annotated[datetime | None, Parameter(description="Joined before (ISO 8601).")] = None,
    ) -> MemberPage:
        return await _service(request, db_session).page(
            limit=limit,
            cursor=cursor,
            tag=tag,
            tier=tier,
            provider=provider,
            joined_from=joined_from,
            joined_to=joined_to,
        )

    @get("/me", guards=[MEMBER], summary="The member the token speaks for")
    async def get_me(self, request: Request[Any, Any, Any], db_session: NamedDependency[AsyncSession]) -> MemberOut:
        return await _service(request, db_session).get(_me(request))

    @patch(
        "/me",
        guards=[MEMBER],
        summary="The member changes its name or its consents (withdrawal applies at once)",
        opt=problems({409: ["referrer_already_set", "referral_cycle"]}),
    )
    async def patch_me(
        self,
        request: Request[Any, Any, Any],
        db_session: NamedDependency[AsyncSession],
        data: JSONBody[MemberSelfPatch],
    ) -> MemberOut:
        return await _service(request, db_session).update(_me(request), data.as_patch())

    @get(
        "/{member_id:uuid}",
        guards=[READERS],
        summary="One member",
        opt=problems({404: ["member_merged", "member_erased"]}),
    )
    async def get_member(
        self, request: Request[Any, Any, Any], db_session: NamedDependency[AsyncSession], member_id: FromPath[uuid.UUID]
    ) -> MemberOut:
        return await _service(request, db_session).get(member_id)

    @patch(
        "/{member_id:uuid}",
        guards=[ADMIN],
        summary="Change a member (a referrer can be set once)",
        opt=problems(
            {
                404: ["member_merged", "member_erased"],
                409: ["referrer_already_set", "referral_cycle", "external_id_conflict"],
            }
        ),
    )
    async def patch_member(
        self,
        request: Request[Any, Any, Any],
        db_session: NamedDependency[AsyncSession],
        member_id: FromPath[uuid.UUID],
        data: JSONBody[MemberPatch],
    ) -> MemberOut:
        return await _service(request, db_session).update(member_id, data)

    @delete(
        "/{member_id:uuid}",
        guards=[ADMIN],
        summary="Erase a member's personal data (an anonymous tombstone stays)",
        opt=problems({404: ["member_merged", "member_erased"]}),
    )
    async def erase_member(
        self, request: Request[Any, Any, Any], db_session: NamedDependency[AsyncSession], member_id: FromPath[uuid.UUID]
    ) -> None:
        await _service(request, db_session).erase(member_id)

    @get(
        "/{member_id:uuid}/export",
        guards=[ADMIN],
        summary="Everything held about a member, as one JSON document, streamed",
        responses={
            HTTP_200_OK: ResponseSpec(
                data_container=MemberExport,
                generate_examples=False,  # random, time-dependent examples would make openapi.json drift
                description="The profile, then every history in full, oldest first (streamed in pages).",
            )
        },
        opt=problems({404: ["member_merged", "member_erased"]}),
    )
    async def export_member(
        self,
        request: Request[Any, Any, Any],
        db_session: NamedDependency[AsyncSession],
        member_id: FromPath[uuid.UUID],
        crs: CrsQuery = "wgs84",
    ) -> Stream:
        return Stream(await _service(request, db_session).export(member_id, crs=crs), media_type=MediaType.JSON)

    @post(
        "/{member_id:uuid}/social-accounts",
        guards=[ADMIN],
        summary="Link a social account (409 if another member has it)",
        opt=problems(
            {404: ["member_merged", "member_erased"], 409: ["social_account_taken"]},
            also={200: "Already linked to this member: updated"},
        ),
    )
    async def link_social_account(
        self,
        request: Request[Any, Any, Any],
        db_session: NamedDependency[AsyncSession],
        member_id: FromPath[uuid.UUID],
        data: JSONBody[SocialAccountIn],
    ) -> Response[SocialAccountOut]:
        account, created = await _service(request, db_session).link_social(member_id, data)
        return Response(account, status_code=HTTP_201_CREATED if created else HTTP_200_OK)

    @delete(
        "/{member_id:uuid}/social-accounts/{provider:str}/{uid:str}", guards=[ADMIN], summary="Unlink a social account"
    )
    async def unlink_social_account(
        self,
        request: Request[Any, Any, Any],
        db_session: NamedDependency[AsyncSession],
        member_id: FromPath[uuid.UUID],
        provider: FromPath[Provider],
        uid: FromPath[str],
    ) -> None:
        await _service(request, db_session).unlink_social(member_id, provider, uid)

    @post(
        "/{member_id:uuid}/merge",
        guards=[ADMIN],
        status_code=HTTP_200_OK,
        summary="Merge another member into this one",
        opt=problems({404: ["member_merged", "member_erased"], 409: ["referral_cycle"]}),
    )
    async def merge_member(
        self,
        request: Request[Any, Any, Any],
        db_session: NamedDependency[AsyncSession],
        member_id: FromPath[uuid.UUID],
        data: JSONBody[MergeIn],
    ) -> MemberOut:
        return await _service(request, db_session).merge(member_id, data.from_)

    @post(
        "/{member_id:uuid}/tokens",
        guards=[ADMIN],
        summary="Mint a short-lived member token for the mobile app",
        opt=problems({404: ["member_merged", "member_erased"]}),
    )
    async def mint_token(
        self,
        request: Request[Any, Any, Any],
        db_session: NamedDependency[AsyncSession],
        member_id: FromPath[uuid.UUID],
        member_token_codec: NamedDependency[MemberTokenCodec],
    ) -> MemberToken:
        return await _service(request, db_session).mint_token(member_id, member_token_codec)
