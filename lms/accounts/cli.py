"""`flask lms create-admin`, `import-members`, `data-key-rotate` (also re-seals records) and `privacy-coverage`."""
from __future__ import annotations

from pathlib import Path

import click
from flask.cli import with_appcontext
from sqlalchemy import select

from lms import audit
from lms.accounts import importing, privacy, services
from lms.accounts.models import User
from lms.cli import lms_group
from lms.extensions import db
from lms.org.models import OrgUnit

ROOT_NAME = "校党委"


@lms_group.command("create-admin")
@click.option("--login-id", required=True, help="学号/工号，登录用。")
@click.option("--name", required=True, help="姓名。")
@click.option("--password", default=None, help="初始密码；不给时交互输入（推荐，避免留在命令历史中）。")
@with_appcontext
def create_admin_command(login_id: str, name: str, password: str | None):
    """Create a system administrator (and the root 党委 “校党委” when the tree is empty)."""
    from lms.auth.services import hash_password

    login_id = login_id.strip()
    name = name.strip()
    if not services.LOGIN_ID_RE.match(login_id):
        raise click.ClickException("学号/工号只能包含字母、数字、下划线、点和连字符（最多 64 位）")
    if not name or len(name) > 64:
        raise click.ClickException("请填写姓名（最多 64 个字）")
    if services.login_id_taken(login_id):
        raise click.ClickException(f"学号/工号 {login_id} 已存在")
    if password is None:
        password = click.prompt("密码", hide_input=True, confirmation_prompt="再次输入密码")
    problems = services.check_initial_password(password)
    if problems:
        raise click.ClickException("；".join(problems))
    root = db.session.scalar(select(OrgUnit).where(OrgUnit.parent_id.is_(None)).order_by(OrgUnit.id))
    if root is None:
        from lms.org.services import create_unit

        root = create_unit(ROOT_NAME, "committee")
        audit.log("org.create", root, details={"name": root.name, "kind": root.kind, "parent_id": None},
                  note="flask lms create-admin")
        click.echo(f"已创建党组织：{ROOT_NAME}")
    user = User(login_id=login_id, name=name, org_unit_id=root.id, category="full",
                password_hash=hash_password(password), must_change_password=False)
    db.session.add(user)
    db.session.flush()
    audit.log("people.create", user, details={"unit_id": root.id}, note="flask lms create-admin")
    privacy.record_basis(user, source="cli")
    services.grant_role(None, user, "sysadmin", None)
    db.session.commit()
    click.echo(f"已创建系统管理员 {name}（{login_id}）。首次登录时须绑定动态口令。")


@lms_group.command("import-members")
@click.argument("file", type=click.Path(exists=True, dir_okay=False, path_type=Path))
@click.option("--dry-run", is_flag=True, help="只检查，不写入。")
@click.option("--initial-password", default=None, help="新账号的初始密码（首次登录须修改）；需要时不给则交互输入。")
@with_appcontext
def import_members_command(file: Path, dry_run: bool, initial_password: str | None):
    """Import party members from an .xlsx made from the import template (same checks as the web page)."""
    data = file.read_bytes()
    try:
        result = importing.plan(data, None)
    except importing.ImportFileError as exc:
        click.echo(f"错误：{exc}", err=True)
        raise SystemExit(1) from exc
    if result.bad_rows:
        click.echo(f"发现 {len(result.bad_rows)} 行有错误，未导入任何数据：", err=True)
        for r in result.bad_rows:
            click.echo(f"  第 {r.row} 行：" + "；".join(r.errors), err=True)
        raise SystemExit(1)
    c = result.counts
    summary = f"新增 {c['create']} 人，更新 {c['update']} 人，未变化 {c['unchanged']} 人"
    if dry_run:
        click.echo(f"检查通过（未写入）：{summary}")
        for r in result.of("update"):
            click.echo(f"  第 {r.row} 行 {r.login_id} 将更新：" + "、".join(r.changes))
        return
    if c["create"] and initial_password is None:
        initial_password = click.prompt("新账号的初始密码", hide_input=True, confirmation_prompt="再次输入")
    try:
        importing.apply(result, None, initial_password, source="cli")
    except (services.AccountError, importing.ImportFileError) as exc:
        db.session.rollback()
        click.echo(f"错误：{exc}", err=True)
        raise SystemExit(1) from exc
    db.session.commit()
    click.echo(f"导入完成：{summary}")


@lms_group.command("data-key-rotate")
@with_appcontext
def data_key_rotate_command():
    """Re-encrypt every encrypted field and re-seal every sealed record (PI-04) with DATA_KEY (the old keys
    must be listed in DATA_KEYS_OLD). Records whose seal does not verify are not re-sealed but listed."""
    from lms import integrity
    from lms.accounts import crypto

    try:
        counts = crypto.rotate(db.session, db.metadata)
    except crypto.DataKeyError as exc:
        raise click.ClickException(str(exc)) from exc
    resealed, bad = integrity.reseal()
    audit.log("data_key.rotate", details={"key_id": crypto.keyring().current_id, "rewritten": counts,
                                          "resealed": resealed, "seal_failures": len(bad)})
    db.session.commit()
    for name, n in counts.items():
        click.echo(f"{name}: {n} value(s) re-encrypted")
    for name, n in resealed.items():
        click.echo(f"{name}: {n} record seal(s) renewed")
    for line in bad:
        click.echo(f"TAMPERED {line} (seal not renewed; see flask lms integrity-check)", err=True)
    click.echo(f"all encrypted fields now use key {crypto.keyring().current_id}; "
               "DATA_KEYS_OLD can be emptied once every server runs with the new DATA_KEY")


@lms_group.command("privacy-coverage")
@click.option("--record-basis", "basis", default=None, type=click.Choice(sorted(privacy.PRIVACY_BASES)),
              help="Record this lawful basis for everyone who has neither a consent nor a basis (audited).")
@with_appcontext
def privacy_coverage_command(basis: str | None):
    """PI-02: does every person have a notice consent or a recorded lawful basis? Exit 1 when not."""
    cov = privacy.coverage()
    if basis and cov.missing:
        for person in db.session.scalars(select(User).where(User.id.in_(cov.missing))):
            privacy.record_basis(person, source="cli", basis=basis)
        audit.log("privacy.basis", target_type="user", details={"basis": basis, "people": len(cov.missing)},
                  note="flask lms privacy-coverage --record-basis")
        db.session.commit()
        click.echo(f"recorded basis {basis} for {len(cov.missing)} person(s)")
        cov = privacy.coverage()
    click.echo(f"people: {cov.people}, with consent: {cov.with_consent}, with a recorded basis: {cov.with_basis}, "
               f"with neither: {len(cov.missing)}")
    if cov.missing:
        logins = db.session.scalars(select(User.login_id).where(User.id.in_(cov.missing[:20])))
        click.echo("without consent or basis: " + ", ".join(logins) + (" …" if len(cov.missing) > 20 else ""),
                   err=True)
        raise SystemExit(1)


@lms_group.command("person-erase")
@click.argument("login_id")
@click.option("--yes", is_flag=True, help="确认删除（不可撤销）；不给时只显示将要删除的人。")
@with_appcontext
def person_erase_command(login_id: str, yes: bool):
    """PI-06: erase the personal data of a person who has left (deactivate the account first; audited)."""
    from lms.accounts import dsar

    person = db.session.scalar(select(User).where(User.login_id == login_id.strip()))
    if person is None:
        raise click.ClickException(f"没有学号/工号为 {login_id} 的人员")
    if not yes:
        click.echo(f"将删除 {person.name}（{person.login_id}，编号 {person.id}）的个人信息；确认请加 --yes")
        raise SystemExit(1)
    try:
        row = dsar.erase(None, person, note="flask lms person-erase")
    except dsar.DsarError as exc:
        db.session.rollback()
        raise click.ClickException(str(exc)) from exc
    db.session.commit()
    done = sum(n for n in row.summary.values())
    click.echo(f"已删除编号 {row.person_id} 的个人信息：{done} 行已删除或去标识化；"
               f"保留并标注操作日志 {row.audit_rows_kept} 行")
