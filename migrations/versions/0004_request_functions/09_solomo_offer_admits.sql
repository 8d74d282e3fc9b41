-- solomo_offer_admits: the offer's audience ("who") and weekly hours admit the member at time p_at.
-- Marketing consent is always required; tags and tiers are any-of; provider and min_followers ask for one
-- linked account that has both (followers on that provider when one is named, on any account otherwise).
-- It takes the offer's and the member's columns rather than their ids, and is a single expression with no
-- subquery (the linked-account test is solomo_member_has_account, only called for an audience that names a
-- provider or a follower count), so the planner inlines it into the calling query: evaluating 1,000 offers costs
-- no query per offer. (In a SQL
-- function a column name wins over a parameter of the same name: hence solomo_offer_admits.member_id.)
CREATE OR REPLACE FUNCTION solomo_offer_admits(
    audience_tags text[], audience_tiers text[], audience_provider text, min_followers integer,
    joined_within_days integer, weekly_hours jsonb,
    member_brand uuid, member_id uuid, member_tags text[], member_tier text, member_joined_at timestamptz,
    member_marketing_consent boolean, p_at timestamptz, p_store_timezone text
) RETURNS boolean
LANGUAGE sql STABLE PARALLEL SAFE AS $$
    SELECT member_marketing_consent
       AND (audience_tags = '{}' OR audience_tags && member_tags)
       AND (audience_tiers = '{}' OR member_tier = ANY(audience_tiers))
       AND (joined_within_days IS NULL OR member_joined_at >= p_at - make_interval(days => joined_within_days))
       AND ((audience_provider IS NULL AND min_followers IS NULL)
            OR solomo_member_has_account(member_brand, solomo_offer_admits.member_id, audience_provider, min_followers))
       AND (weekly_hours IS NULL OR solomo_in_weekly_hours(weekly_hours, p_at AT TIME ZONE p_store_timezone))
$$;
