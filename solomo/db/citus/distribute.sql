-- Distributing SoLoMo's schema on Citus: run once on the coordinator, after `solomo database upgrade` (alembic upgrade head)
-- has built the schema there and the workers have been added (docs/scaling.md gives the whole recipe). Every table
-- is in one of three lists below, and tests/db/test_citus_ready.py holds the schema to them on plain PostgreSQL:
-- a new table in no list, a distributed table whose key or foreign key lacks brand_id, a function that writes
-- distributed tables and is not distributed by its brand argument, a reference table pointing at a distributed
-- one: each fails that test.
--
-- One co-location group, by brand_id, anchored on members: a brand's rows of every table live in the same shard,
-- so a statement (or a whole function call) that names one brand runs on one worker, joins and foreign keys
-- included. Parents come before children: Citus checks a foreign key when it distributes the child.

-- Reference tables: small, read everywhere, copied to every node.
SELECT create_reference_table('brands');
SELECT create_reference_table('api_key_routes');

-- Local tables: stay on the coordinator.
-- local: alembic_version

-- Distributed tables, by brand_id.
SELECT create_distributed_table('members', 'brand_id', colocate_with => 'none');
SELECT create_distributed_table('stores', 'brand_id', colocate_with => 'members');
SELECT create_distributed_table('geofences', 'brand_id', colocate_with => 'members');
SELECT create_distributed_table('campaigns', 'brand_id', colocate_with => 'members');
SELECT create_distributed_table('offers', 'brand_id', colocate_with => 'members');
SELECT create_distributed_table('offer_capacity', 'brand_id', colocate_with => 'members');
SELECT create_distributed_table('offer_shares', 'brand_id', colocate_with => 'members');
SELECT create_distributed_table('coupons', 'brand_id', colocate_with => 'members');
SELECT create_distributed_table('redemptions', 'brand_id', colocate_with => 'members');
SELECT create_distributed_table('coupon_audit', 'brand_id', colocate_with => 'members');
SELECT create_distributed_table('member_social_accounts', 'brand_id', colocate_with => 'members');
SELECT create_distributed_table('member_consent_events', 'brand_id', colocate_with => 'members');
SELECT create_distributed_table('member_firsts', 'brand_id', colocate_with => 'members');
SELECT create_distributed_table('member_offer_claims', 'brand_id', colocate_with => 'members');
SELECT create_distributed_table('offer_eligibility', 'brand_id', colocate_with => 'members');
SELECT create_distributed_table('offer_impressions', 'brand_id', colocate_with => 'members');
-- Partitioned by month: Citus distributes the parent with its partitions, and partitions made later
-- (`solomo maintenance partitions`) are distributed as they are attached.
SELECT create_distributed_table('checkins', 'brand_id', colocate_with => 'members');
SELECT create_distributed_table('checkin_matches', 'brand_id', colocate_with => 'members');
SELECT create_distributed_table('fence_states', 'brand_id', colocate_with => 'members');
SELECT create_distributed_table('api_keys', 'brand_id', colocate_with => 'members');
SELECT create_distributed_table('console_sessions', 'brand_id', colocate_with => 'members');
SELECT create_distributed_table('request_budgets', 'brand_id', colocate_with => 'members');
SELECT create_distributed_table('code_failures', 'brand_id', colocate_with => 'members');
SELECT create_distributed_table('idempotency_keys', 'brand_id', colocate_with => 'members');
SELECT create_distributed_table('stats_pending', 'brand_id', colocate_with => 'members');
SELECT create_distributed_table('stats_rollup', 'brand_id', colocate_with => 'members');
SELECT create_distributed_table('stats_hourly', 'brand_id', colocate_with => 'members');
SELECT create_distributed_table('stats_referrers', 'brand_id', colocate_with => 'members');
SELECT create_distributed_table('heatmap_cells', 'brand_id', colocate_with => 'members');
SELECT create_distributed_table('webhook_endpoints', 'brand_id', colocate_with => 'members');
SELECT create_distributed_table('webhook_outbox', 'brand_id', colocate_with => 'members');
SELECT create_distributed_table('webhook_messages', 'brand_id', colocate_with => 'members');
SELECT create_distributed_table('webhook_attempts', 'brand_id', colocate_with => 'members');

-- Functions that write a brand's rows, delegated whole to the worker holding that brand's shard: every statement
-- in them names p_brand, so the call runs there as one local transaction. The hot routes call their request
-- function as one statement in autocommit (solomo/db/pool.py), which Citus delegates as it is; force_delegation
-- also delegates a call made inside a transaction block (the stats fold before a read, run_once's idempotency
-- functions), whose other statements name the same brand and so go to the same worker, as Citus then requires.
SELECT create_distributed_function('solomo_checkin_request(uuid,uuid,integer,integer,double precision,text,bytea,double precision,double precision,double precision,timestamp with time zone,boolean,text)', 'p_brand', colocate_with => 'members', force_delegation => true);
SELECT create_distributed_function('solomo_claim_request(uuid,uuid,integer,integer,double precision,text,bytea,uuid,text,text)', 'p_brand', colocate_with => 'members', force_delegation => true);
SELECT create_distributed_function('solomo_redeem_request(uuid,uuid,bytea,integer,double precision,text,bytea,double precision,double precision,text,boolean,uuid,numeric)', 'p_brand', colocate_with => 'members', force_delegation => true);
SELECT create_distributed_function('solomo_member_request_opening(uuid,uuid,integer,integer,double precision,text,bytea)', 'p_brand', colocate_with => 'members', force_delegation => true);
SELECT create_distributed_function('solomo_record_check_in(uuid,uuid,double precision,double precision,double precision,timestamp with time zone,boolean,text)', 'p_brand', colocate_with => 'members', force_delegation => true);
SELECT create_distributed_function('solomo_claim_offer(uuid,uuid,uuid,text,text)', 'p_brand', colocate_with => 'members', force_delegation => true);
SELECT create_distributed_function('solomo_redeem_coupon(uuid,text,uuid,uuid,text,numeric)', 'p_brand', colocate_with => 'members', force_delegation => true);
SELECT create_distributed_function('solomo_webhook_enqueue(uuid,text,uuid,jsonb)', 'p_brand', colocate_with => 'members', force_delegation => true);
SELECT create_distributed_function('solomo_charge_budget(uuid,text,integer,double precision,boolean)', 'p_brand', colocate_with => 'members', force_delegation => true);
SELECT create_distributed_function('solomo_record_code_failure(uuid,text,double precision)', 'p_brand', colocate_with => 'members', force_delegation => true);
SELECT create_distributed_function('solomo_idempotent_replay(uuid,text,text,text,bytea)', 'p_brand', colocate_with => 'members', force_delegation => true);
SELECT create_distributed_function('solomo_idempotent_save(uuid,text,text,text,bytea,integer,bytea)', 'p_brand', colocate_with => 'members', force_delegation => true);
SELECT create_distributed_function('solomo_console_session(uuid,uuid,bytea,integer)', 'p_brand', colocate_with => 'members', force_delegation => true);
SELECT create_distributed_function('solomo_stats_fold(uuid,integer)', 'p_brand', colocate_with => 'members', force_delegation => true);
SELECT create_distributed_function('solomo_stats_fold_raw(uuid)', 'p_brand', colocate_with => 'members', force_delegation => true);
