#!/usr/bin/env python3
"""The whole subsidy workflow with the subsidy_client package, against a real subsidyd.

    python workflow.py --subsidyd .build/debug/subsidyd     # starts its own `subsidyd --dev`
    python workflow.py --data-dir subsidyd-data             # a running `subsidyd --dev --data-dir DIR`

The district (南海 nanhai, its own socket) registers an enterprise and a cloud service provider;
the city (its socket) puts the provider in the resource pool; the district quotes a 上云 voucher,
files it and recommends it (初审); the city approves it (复核, committed against every cap),
publicizes it (公示), disburses it after the 7 days, and checks the quota and the audit chains.
Each run uses fresh codes and a fresh contract number, so it can run again on the same data. The
calls say which day they are made on (metadata ``x-today``, which only a ``--dev`` daemon takes):
the 2020 measures have ended, and a filing under them is refused on today's date. The district
files on 2022-09-26; the city decides from 2022-10-01 (no decision may be dated before its
filing) and acts on 2022-10-09, after the 公示.
"""

from __future__ import annotations

import argparse
import contextlib
import random
import sys

from foshan.subsidy.v1 import district_pb2 as d
from foshan.subsidy.v1 import types_pb2 as t
from subsidy_client import Client, DevDaemon, RpcError, make_uscc
from subsidy_client.devdaemon import dev_socket


def yuan(fen: int) -> str:
    return f"{fen / 100:,.2f} yuan"


def run(data_dir: str) -> None:
    rng = random.Random()
    # Nanhai's area is 440605: a district registers only its own area's enterprises (Protos/README.md §5).
    buyer = make_uscc("91440605" + "".join(rng.choice("0123456789ABCDEFGHJKLMNPQRTUWXY") for _ in range(8)))
    provider = make_uscc("91440605" + "".join(rng.choice("0123456789") for _ in range(8)))
    contract = f"HT-2022-EX-{rng.randrange(10**6):06d}"

    # Every shipped programme has ended: the calls say which day they are made on (a --dev daemon
    # takes it), in the 2020 measures' time: the district's the day it files, the city's after
    # the 公示 ended.
    with Client(dev_socket(data_dir, "nanhai"), metadata={"x-today": "2022-09-26"}) as nanhai, \
            Client(dev_socket(data_dir, "city"), metadata={"x-today": "2022-10-09"}) as city:
        me = nanhai.identity.who_am_i()
        print(f"district socket: tenant {me.tenant} ({me.display_name}), policy {me.policy_version}")

        nanhai.district.register_applicant(applicant=t.Applicant(
            uscc=buyer, name="示例制造有限公司", locality=t.LOCAL, role=t.INDUSTRIAL_ENTERPRISE))
        nanhai.district.register_applicant(applicant=t.Applicant(
            uscc=provider, name="示例云服务有限公司", locality=t.LOCAL, role=t.SERVICE_PROVIDER))
        city.city.register_pool_member(member=t.PoolMember(uscc=provider, name="示例云服务有限公司",
                                                           entry_date="2020-08-01"))
        print(f"registered enterprise {buyer} and provider {provider} (in the resource pool)")

        application = t.Application(
            measure=t.CLOUD_VOUCHER, funding_year=2022, enterprise_uscc=buyer, provider_uscc=provider,
            contract_number=contract, project_name="设备上云", contract_amount_fen=120_000_000,
            paid_amount_fen=120_000_000)
        quote = nanhai.district.quote(application=application, decision_date="2022-10-01").explanation
        binding = [limit.cap_id or limit.kind for limit in quote.limits if limit.binding]
        print(f"quote: {yuan(quote.award_fen)} (formula {yuan(quote.formula_fen)}; bound by {', '.join(map(str, binding)) or 'the formula'})")

        submit = d.SubmitApplicationRequest(application=application)
        record = nanhai.district.submit_application(submit).record
        print(f"submitted {record.id} (request id {submit.request_id}): {t.ApplicationState.Name(record.state)}")
        for warning in record.warnings:
            print(f"  warning: {warning}")
        record = nanhai.district.review_application(application_id=record.id, outcome=d.RECOMMEND).record
        print(f"reviewed by {me.tenant}: {t.ApplicationState.Name(record.state)}")

        record = city.city.approve_application(application_id=record.id, decision_date="2022-10-01").record
        print(f"approved by the city: {yuan(record.awarded_fen)}, {t.ApplicationState.Name(record.state)}")
        record = city.city.publicize_application(application_id=record.id, decision_date="2022-10-02").record
        print(f"publicized 2022-10-02: {t.ApplicationState.Name(record.state)}")
        try:
            city.city.disburse_application(application_id=record.id, decision_date="2022-10-05")
        except RpcError as error:
            print(f"disbursing during the 公示 is refused: {error.code_name}: {error.message}")
        record = city.city.disburse_application(application_id=record.id, decision_date="2022-10-09").record
        print(f"disbursed 2022-10-09: {t.ApplicationState.Name(record.state)}")

        quota = city.city.get_quota(funding_year=2022)
        for cap in quota.caps:
            if cap.scope in (f"2022/{buyer}", f"2022/{provider}") or cap.cap_id == "CLOUD_VOUCHER.annual_budget":
                print(f"  {cap.cap_id} [{cap.scope}]: {yuan(cap.committed)} of {yuan(cap.limit)} committed")
        chains = city.city.verify_audit().chains
        print(f"audit: {sum(c.ok for c in chains)}/{len(chains)} chains verify")
        if not all(c.ok for c in chains):
            raise SystemExit("an audit chain does not verify")
        print(f"history of {record.id}: " + " -> ".join(
            f"{t.ApplicationState.Name(h.to_state)} ({h.tenant})" for h in record.history))


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    where = parser.add_mutually_exclusive_group(required=True)
    where.add_argument("--subsidyd", metavar="BIN", help="start `BIN --dev` in a temporary directory")
    where.add_argument("--data-dir", metavar="DIR", help="use a running `subsidyd --dev --data-dir DIR`")
    args = parser.parse_args(argv)
    with contextlib.ExitStack() as stack:
        if args.subsidyd:
            daemon = stack.enter_context(DevDaemon(args.subsidyd))
            print(f"started {args.subsidyd} --dev --data-dir {daemon.data_dir}")
            data_dir = daemon.data_dir
        else:
            data_dir = args.data_dir
        try:
            run(data_dir)
        except RpcError as error:
            print(f"failed: {error}", file=sys.stderr)
            return 1
    print("workflow complete")
    return 0


if __name__ == "__main__":
    sys.exit(main())
