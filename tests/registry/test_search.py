from __future__ import annotations

import datetime as dt

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from registry import search
from registry.models import ModelVersion, RegisteredModel
from registry.search import And, Condition, Not, Or, SearchError

UTC = dt.UTC
DATE_HINT = 'use a date "2025-01-31" or a date and time "2025-01-31T14:30:00Z"'


def _at(version: ModelVersion, when: str, stage: str = "") -> None:
    fields = {"created_at": dt.datetime.fromisoformat(when).replace(tzinfo=UTC)}
    if stage:
        fields["stage"] = stage
    ModelVersion.objects.filter(pk=version.pk).update(**fields)


@pytest.fixture
def catalogue(make_model, make_version, other_team, site_admin):
    """churn 1.0.0/1.1.0/2.0.0 and ranker 0.1.0 in fraud; ads 1.0.0 in growth."""
    churn = make_model(
        "churn", framework="xgboost", task_type="classification", tags={"owner": "fraud"}
    )
    v100 = make_version(
        churn,
        "1.0.0",
        metrics={"test": {"auc": 0.85}, "train": {"auc": 0.95}, "business": {"profit": -1500.5}},
        tags={"owner": "fraud", "note": 'say "hi"'},
        params={"lr": 0.1, "epochs": 10, "gpu": True},
        description="Baseline gradient boosting",
    )
    _at(v100, "2025-01-10T08:00:00")
    v110 = make_version(
        churn,
        "1.1.0",
        metrics={"test": {"auc": 0.91}},
        tags={"owner": "fraud", "candidate": ""},
        params={"lr": 0.01, "optimizer": {"name": "adam"}},
    )
    _at(v110, "2025-02-01T12:00:00", "production")
    v200 = make_version(
        churn,
        "2.0.0",
        metrics={"test": {"auc": 0.95}},
        tags={"owner": "risk"},
        params={"lr": 0.001, "optimizer": {"name": "sgd"}},
        framework="LightGBM",
    )
    _at(v200, "2025-03-05T00:00:00", "staging")
    ranker = make_model("ranker", framework="lightgbm", task_type="ranking", tags={"pii": ""})
    r010 = make_version(ranker, "0.1.0", metrics={"test": {"ndcg": 0.7}})
    _at(r010, "2025-01-10T23:30:00")
    from registry import services

    ads = services.create_model(
        team=other_team, name="ads", actor=site_admin, framework="xgboost", tags={"owner": "fraud"}
    )
    a100 = make_version(
        ads, "1.0.0", actor=site_admin, metrics={"test": {"auc": 0.99}}, tags={"owner": "fraud"}
    )
    _at(a100, "2025-01-10T12:00:00", "production")
    RegisteredModel.objects.filter(pk=ranker.pk).update(
        created_at=dt.datetime(2024, 6, 1, tzinfo=UTC)
    )
    return churn


def versions(query: str, qs=None) -> list[str]:
    qs = ModelVersion.objects.all() if qs is None else qs
    found = search.filter_versions(qs, query).select_related("model")
    return sorted(f"{v.model.name}@{v.version}" for v in found)


def models(query: str, qs=None) -> list[str]:
    qs = RegisteredModel.objects.all() if qs is None else qs
    return sorted(m.name for m in search.filter_models(qs, query))


ALL_VERSIONS = ["ads@1.0.0", "churn@1.0.0", "churn@1.1.0", "churn@2.0.0", "ranker@0.1.0"]


@pytest.mark.django_db
@pytest.mark.parametrize(
    ("query", "expected"),
    [
        # metrics: every operator, negative numbers, exponents, "has"
        ("metrics.test.auc >= 0.91", ["ads@1.0.0", "churn@1.1.0", "churn@2.0.0"]),
        ("metrics.test.auc > 0.91", ["ads@1.0.0", "churn@2.0.0"]),
        ("metrics.test.auc < 0.91", ["churn@1.0.0"]),
        ("metrics.test.auc <= 0.91", ["churn@1.0.0", "churn@1.1.0"]),
        ("metrics.test.auc = 0.95", ["churn@2.0.0"]),
        ("metrics.test.auc == 0.95", ["churn@2.0.0"]),
        ("metrics.train.auc = 0.95", ["churn@1.0.0"]),
        ("metrics.test.auc in (0.85, 0.95)", ["churn@1.0.0", "churn@2.0.0"]),
        ("metrics.business.profit < -1e3", ["churn@1.0.0"]),
        ("metrics.business.profit >= -15005E-1", ["churn@1.0.0"]),
        ("metrics.test.ndcg", ["ranker@0.1.0"]),
        ("metrics.test.auc != 0.95", [v for v in ALL_VERSIONS if v != "churn@2.0.0"]),
        # tags: equality, "has", substring, in, !=
        ("tags.owner = 'fraud'", ["ads@1.0.0", "churn@1.0.0", "churn@1.1.0"]),
        ("tags.owner = fraud", ["ads@1.0.0", "churn@1.0.0", "churn@1.1.0"]),
        ("tags.candidate", ["churn@1.1.0"]),
        ("tags.owner ~ 'IS'", ["churn@2.0.0"]),
        ("tags.owner contains 'ris'", ["churn@2.0.0"]),
        ("tags.owner in ('risk', 'nobody')", ["churn@2.0.0"]),
        ('tags.note = "say \\"hi\\""', ["churn@1.0.0"]),
        ("tags.note = 'say \"hi\"'", ["churn@1.0.0"]),
        ("tags.owner != 'fraud'", ["churn@2.0.0", "ranker@0.1.0"]),
        # params: numbers, nested keys, strings, booleans, substring, in, has
        ("params.lr = 0.01", ["churn@1.1.0"]),
        ("params.lr < 0.05", ["churn@1.1.0", "churn@2.0.0"]),
        ("params.epochs >= 10", ["churn@1.0.0"]),
        ("params.optimizer.name = 'adam'", ["churn@1.1.0"]),
        ("params.optimizer.name ~ 'GD'", ["churn@2.0.0"]),
        ("params.optimizer.name in ('adam', 'sgd')", ["churn@1.1.0", "churn@2.0.0"]),
        ("params.gpu = true", ["churn@1.0.0"]),
        ("params.optimizer", ["churn@1.1.0", "churn@2.0.0"]),
        ("params.lr != 0.1", [v for v in ALL_VERSIONS if v != "churn@1.0.0"]),
        # ordered comparisons match numbers only (JSON sorts other types after them)
        ("params.optimizer.name > 1000000", []),
        ("params.optimizer > 0", []),
        ("params.gpu >= 0", []),
        ("not params.optimizer > 0", ALL_VERSIONS),
        # plain fields
        ("stage = production", ["ads@1.0.0", "churn@1.1.0"]),
        ("stage = 'Production'", ["ads@1.0.0", "churn@1.1.0"]),
        ("stage != development", ["ads@1.0.0", "churn@1.1.0", "churn@2.0.0"]),
        ("stage in (staging, 'PRODUCTION')", ["ads@1.0.0", "churn@1.1.0", "churn@2.0.0"]),
        ("stage not in (staging, production)", ["churn@1.0.0", "ranker@0.1.0"]),
        ("version = '1.0.0'", ["ads@1.0.0", "churn@1.0.0"]),
        ("version = 1.0.0", ["ads@1.0.0", "churn@1.0.0"]),
        ("version ~ '.1.'", ["churn@1.1.0", "ranker@0.1.0"]),
        ("framework = lightgbm", ["churn@2.0.0", "ranker@0.1.0"]),
        ("framework = 'XGBoost'", ["ads@1.0.0", "churn@1.0.0", "churn@1.1.0"]),
        ("task = ranking", ["ranker@0.1.0"]),
        ("task = 'Classification'", ["churn@1.0.0", "churn@1.1.0", "churn@2.0.0"]),
        ("model = 'CHURN' and version = '2.0.0'", ["churn@2.0.0"]),
        ("model in (ranker, ads)", ["ads@1.0.0", "ranker@0.1.0"]),
        ("team = growth", ["ads@1.0.0"]),
        ("sequence = 2", ["churn@1.1.0"]),
        ("sequence >= 2", ["churn@1.1.0", "churn@2.0.0"]),
        ("sequence in (1, 3)", ["ads@1.0.0", "churn@1.0.0", "churn@2.0.0", "ranker@0.1.0"]),
        ("description ~ 'boosting'", ["churn@1.0.0"]),
    ],
)
def test_it_filters_versions_by_each_field_and_operator(catalogue, query, expected):
    assert versions(query) == expected


@pytest.mark.django_db
@pytest.mark.parametrize(
    ("query", "expected"),
    [
        # a date alone means the whole day (in the site's time zone, UTC)
        ("created = '2025-01-10'", ["ads@1.0.0", "churn@1.0.0", "ranker@0.1.0"]),
        ("created = 2025-01-10", ["ads@1.0.0", "churn@1.0.0", "ranker@0.1.0"]),
        ("created != '2025-01-10'", ["churn@1.1.0", "churn@2.0.0"]),
        ("created > '2025-01-10'", ["churn@1.1.0", "churn@2.0.0"]),
        ("created >= '2025-01-10'", ALL_VERSIONS),
        ("created < '2025-01-10'", []),
        ("created <= '2025-01-10'", ["ads@1.0.0", "churn@1.0.0", "ranker@0.1.0"]),
        ("created < '2025-03-05'", [v for v in ALL_VERSIONS if v != "churn@2.0.0"]),
        # a date and time compares exactly; naive times are UTC, offsets are honoured
        ("created > '2025-01-10T12:00:00Z'", ["churn@1.1.0", "churn@2.0.0", "ranker@0.1.0"]),
        (
            "created >= '2025-01-10T12:00:00'",
            ["ads@1.0.0", "churn@1.1.0", "churn@2.0.0", "ranker@0.1.0"],
        ),
        ("created = '2025-01-10T13:00:00+01:00'", ["ads@1.0.0"]),
        ("created < '2025-01-10 09:00'", ["churn@1.0.0"]),
    ],
)
def test_it_compares_dates_by_whole_day_and_datetimes_exactly(catalogue, query, expected):
    assert versions(query) == expected


@pytest.mark.django_db
@pytest.mark.parametrize(
    ("query", "expected"),
    [
        ("name = 'Churn'", ["churn"]),
        ("name ~ 'an'", ["ranker"]),
        ("name in (ads, ranker)", ["ads", "ranker"]),
        ("team = fraud", ["churn", "ranker"]),
        ("framework = xgboost", ["ads", "churn"]),
        ("task = ranking", ["ranker"]),
        ("tags.owner = fraud", ["ads", "churn"]),
        ("tags.pii", ["ranker"]),
        ("not tags.owner", ["ranker"]),
        ("stage = production", ["ads", "churn"]),
        ("stage in (staging, archived)", ["churn"]),
        ("stage != production", ["ranker"]),
        ("created < '2025-01-01'", ["ranker"]),
        ("updated > '2025-01-01'", ["ads", "churn", "ranker"]),
        ("team = fraud and (stage = production or tags.pii)", ["churn", "ranker"]),
    ],
)
def test_it_filters_models(catalogue, query, expected):
    assert models(query) == expected


def test_it_gives_not_precedence_over_and_over_or():
    tree = search.parse("stage = production or version = '1' and not tags.x")
    assert isinstance(tree, Or)
    assert isinstance(tree.items[1], And)
    assert tree.items[1].items[1] == Not(Condition("tags", ("x",), "has", (), 44))
    assert search.parse("not stage = production and tags.x") == And(
        (
            Not(Condition("stage", (), "=", ("production",), 4)),
            Condition("tags", ("x",), "has", (), 27),
        )
    )


@pytest.mark.django_db
@pytest.mark.parametrize(
    ("query", "expected"),
    [
        # "or" binds loosest: A or (B and C)
        ("stage = staging or tags.owner = fraud and team = growth", ["ads@1.0.0", "churn@2.0.0"]),
        ("(stage = staging or tags.owner = fraud) and team = growth", ["ads@1.0.0"]),
        # "not" binds tightest: (not A) and B
        ("not tags.owner = fraud and model = churn", ["churn@2.0.0"]),
        (
            "not (tags.owner = fraud and model = churn)",
            ["ads@1.0.0", "churn@2.0.0", "ranker@0.1.0"],
        ),
        ("not not stage = production", ["ads@1.0.0", "churn@1.1.0"]),
        ("((((stage = staging))))", ["churn@2.0.0"]),
    ],
)
def test_it_applies_precedence_and_parentheses(catalogue, query, expected):
    assert versions(query) == expected


@pytest.mark.django_db
def test_it_treats_keywords_fields_and_stages_case_insensitively(catalogue):
    assert versions(
        "METRICS.TEST.auc >= 0.9 AND Stage = 'PRODUCTION' Or NOT Tags.owner IN (fraud, risk)"
    ) == ["ads@1.0.0", "churn@1.1.0", "ranker@0.1.0"]
    assert versions("tags.owner CONTAINS 'RIS' and stage Not In (archived)") == ["churn@2.0.0"]


@pytest.mark.django_db
def test_it_matches_the_issue_example(catalogue):
    query = (
        'metrics.test.auc >= 0.9 and tags.owner = "fraud" and stage = "Production" '
        'and created > "2025-01-01"'
    )
    assert versions(query) == ["ads@1.0.0", "churn@1.1.0"]


@pytest.mark.django_db
def test_it_matches_everything_for_a_blank_query(catalogue):
    assert versions("   ") == ALL_VERSIONS
    assert models("") == ["ads", "churn", "ranker"]


@pytest.mark.django_db
def test_it_never_escapes_the_base_queryset(catalogue, other_team):
    base = ModelVersion.objects.exclude(model__team=other_team)
    assert versions("team = growth or stage = production or not stage = production", base) == [
        "churn@1.0.0",
        "churn@1.1.0",
        "churn@2.0.0",
        "ranker@0.1.0",
    ]
    assert versions("tags.owner = fraud or metrics.test.auc > 0.98", base) == [
        "churn@1.0.0",
        "churn@1.1.0",
    ]
    model_base = RegisteredModel.objects.filter(team__slug="growth")
    assert models("team = fraud or name = churn or not name = ads", model_base) == []


@pytest.mark.django_db
def test_it_compiles_metric_and_tag_terms_to_exists_subqueries(catalogue):
    qs = search.filter_versions(
        ModelVersion.objects.all(), "metrics.test.auc >= 0.9 and metrics.train.auc < 1"
    )
    sql = str(qs.query)
    assert sql.count("EXISTS") == 2
    assert 'FROM "registry_metric"' in sql and '"value" >= 0.9' in sql
    assert "JOIN" not in sql
    tag_sql = str(search.filter_models(RegisteredModel.objects.all(), "tags.owner = x").query)
    assert "EXISTS" in tag_sql and "registry_modeltag" in tag_sql


@pytest.mark.django_db
def test_it_passes_user_text_only_as_parameters(catalogue):
    hostile = "x' OR 1=1 --"
    qs = search.filter_versions(ModelVersion.objects.all(), f'tags.owner = "{hostile}"')
    sql, params = qs.query.sql_with_params()
    assert hostile not in sql and hostile in params
    assert list(qs) == []


@pytest.mark.parametrize(
    ("query", "message"),
    [
        (
            "metric.test.auc >= 0.9",
            'unknown field "metric.test.auc" at 0: did you mean metrics.test.auc?',
        ),
        ("stag = production", 'unknown field "stag" at 0: did you mean stage?'),
        ("metrics.test.auc >= ", 'expected a value after ">=", found end of query at 20'),
        ("metrics.test.auc >= )", 'expected a value after ">=", found ")" at 20'),
        (
            "metrics.holdout.auc > 1",
            'unknown split "holdout" at 8: use train, validation, test or business',
        ),
        (
            "metrics.test = 1",
            "expected a metric name after metrics.test at 12: e.g. metrics.test.auc",
        ),
        ("tags = x", "tags needs a name after it at 0: e.g. tags.owner"),
        (
            "tags.-x = 1",
            'invalid tag name "-x" at 5: tag keys start with a letter or digit and use letters, '
            "digits and . _ : / -",
        ),
        (
            "params.a..b = 1",
            'invalid param name "a..b" at 7: parameter names use letters, digits, _ and -, '
            "with . between nested keys",
        ),
        (
            "stage = 'prod'",
            'stage must be one of development, staging, production, archived, found "prod" at 8',
        ),
        (
            "task = 'vision'",
            "task must be one of classification, regression, ranking, recommendation, forecasting, "
            "clustering, anomaly_detection, object_detection, segmentation, text_generation, "
            'embedding, other, found "vision" at 7',
        ),
        ('tags.owner = "fraud and x', "unterminated string at 13"),
        ("tags.owner = 'a\\", "unterminated string at 13"),
        (
            "stage = production)",
            'unexpected ")" at 18: expected "and", "or" or the end of the query',
        ),
        (
            "stage = production stage = staging",
            'unexpected "stage" at 19: expected "and", "or" or the end of the query',
        ),
        ("(stage = production", 'expected ")" to close "(" at 0, found end of query at 19'),
        ("stage = production and", "expected a field name, found end of query at 22"),
        ("stage = production and ()", 'expected a field name, found ")" at 24'),
        ("stage ~ prod", 'stage does not support "~" at 6: use =, !=, in'),
        ("created ~ 2025", 'created does not support "~" at 8: use =, !=, <, <=, >, >='),
        ("stage", 'expected an operator after "stage", found end of query at 5'),
        ("stage production", 'expected an operator after "stage", found "production" at 6'),
        (
            "metrics.test.auc >= 'high'",
            'metrics.test.auc compares with a number, found string "high" at 20',
        ),
        ("metrics.test.auc > 1e999", 'number "1e999" is out of range at 19'),
        ("sequence = 1.5", "sequence compares with a whole number at 11"),
        ("sequence = 99999999999", "sequence compares with a whole number at 11"),
        (
            "created > 'yesterday'",
            f'created needs a date, found "yesterday" at 10: {DATE_HINT}',
        ),
        (
            "created > '2025-02-30'",
            f'created needs a date, found "2025-02-30" at 10: {DATE_HINT}',
        ),
        (
            "tags.owner = 'a\\qb'",
            'unknown escape "\\\\q" at 15: use \\\\, \\", \\\', \\n, \\t, \\r or \\uXXXX',
        ),
        ("stage in 'a'", 'expected "(" after "in", found string "a" at 9'),
        (
            "stage in (production staging)",
            'expected "," or ")" in the "in" list, found "staging" at 21',
        ),
        ("stage in ()", 'expected a value after "(", found ")" at 10'),
        ("stage = production & x", 'unexpected character "&" at 19'),
        ("!stage", 'unexpected "!" at 0: use "!=" or "not"'),
        ("stage = not", 'expected a value after "=", found "not" at 8'),
        ("1.0 = stage", 'expected a field name, found "1.0" at 0'),
        ("tags.owner = 'a\x00'", "character U+0000 is not allowed at 15"),
        ("tags.owner = 'a\\u0000'", "character U+0000 is not allowed at 15"),
        ("stage\x00 = production", "unexpected character U+0000 at 5"),
        ("tags.owner = '\ud800'", "character U+D800 is not allowed at 14"),
    ],
)
def test_it_reports_errors_with_their_position(query, message):
    with pytest.raises(SearchError) as caught:
        search.parse(query)
    assert str(caught.value) == message


def test_it_exposes_message_position_and_hint():
    with pytest.raises(SearchError) as caught:
        search.version_filter("metrics.test.auc >= ")
    error = caught.value
    assert (error.message, error.position, error.hint) == (
        'expected a value after ">=", found end of query',
        20,
        "",
    )
    assert isinstance(error, ValueError)


def test_it_rejects_fields_of_the_other_kind():
    with pytest.raises(SearchError, match=r'^unknown field "metrics.test.auc" at 0: models have'):
        search.parse("metrics.test.auc > 1", "models")
    with pytest.raises(SearchError, match=r'^unknown field "nme" at 0: did you mean name\?'):
        search.model_filter("nme = churn")
    with pytest.raises(SearchError, match=r"^expected a field name, found end of query at 0: "):
        search.parse("")


def test_it_limits_length_and_nesting():
    with pytest.raises(SearchError) as caught:
        search.parse("stage = production or " * 100)
    assert str(caught.value) == "query is longer than 2000 characters at 2000"
    deep = "(" * 21 + "stage = production" + ")" * 21
    with pytest.raises(SearchError) as caught:
        search.parse(deep)
    assert str(caught.value) == "query is nested too deeply (more than 20 levels) at 20"
    search.parse("(" * 20 + "stage = production" + ")" * 20)
    with pytest.raises(SearchError, match=r"nested too deeply .* at 80$"):
        search.parse("not " * 21 + "tags.x")
    with pytest.raises(SearchError, match=r'^"in" takes at most 100 values at 11$'):
        search.parse("version in (" + ",".join(["1"] * 101) + ")")


_FRAGMENTS = [
    "metrics.test.auc",
    "tags.owner",
    "params.lr",
    "stage",
    "created",
    "version",
    "name",
    "team",
    "sequence",
    "and",
    "or",
    "not",
    "in",
    "contains",
    "(",
    ")",
    ",",
    "=",
    "!=",
    "<",
    "<=",
    ">",
    ">=",
    "~",
    '"fraud"',
    "'x\\'y'",
    "0.9",
    "-1e3",
    "2025-01-01",
    '"2025-01-01T00:00:00+05:00"',
    "production",
    "1.0.0",
    "true",
    "\\",
    '"',
    "'",
    "!",
    "9999-12-31",
    "0001-01-01",
    "99999999999999999999",
]


@settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(
    st.text(max_size=300)
    | st.text(st.characters(codec=None, exclude_categories=()), max_size=60)
    | st.text(alphabet=st.sampled_from(list("ab.()=<>!~,'\"\\ -09eE\x00")), max_size=80)
)
def test_it_raises_only_search_errors_for_random_text(text):
    for kind in ("versions", "models"):
        try:
            search.parse(text, kind)
        except SearchError as error:
            assert 0 <= error.position <= max(len(text), search.MAX_QUERY_LENGTH)


@settings(max_examples=500, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(st.lists(st.sampled_from(_FRAGMENTS), max_size=14))
def test_it_compiles_every_query_it_accepts(fragments):
    text = " ".join(fragments)
    for kind, qs in (
        ("versions", ModelVersion.objects.all()),
        ("models", RegisteredModel.objects.all()),
    ):
        try:
            tree = search.parse(text, kind)
        except SearchError as error:
            assert 0 <= error.position <= len(text)
            continue
        str(qs.filter(search.to_q(tree, kind)).query)


@pytest.mark.django_db
@pytest.mark.parametrize(
    ("query", "index"),
    [
        ("params.optimizer.name = 'adam'", "registry_version_params_gin"),
        ("params.lr in (0.1, 0.01) and params.epochs = 10", "registry_version_params_gin"),
        ('description ~ "boost"', "registry_version_description_trgm"),
        ('version = "1.1.0"', "registry_version_string"),
        ("framework = XGBoost", "registry_version_framework_ci"),
    ],
)
def test_postgres_serves_search_terms_from_indexes(is_postgres, catalogue, query, index):
    """With sequential and plain index scans off, only an index that matches the term's
    expression can give its rows (a bitmap scan needs an index condition)."""
    if not is_postgres:
        pytest.skip("PostgreSQL's plans (the GIN and trigram indexes exist there only)")
    from django.db import connection, transaction

    qs = search.filter_versions(ModelVersion.objects.all(), query)
    sql, params = qs.query.sql_with_params()
    with transaction.atomic(), connection.cursor() as cursor:
        cursor.execute("SET LOCAL enable_seqscan = off")
        cursor.execute("SET LOCAL enable_indexscan = off")
        cursor.execute(f"EXPLAIN {sql}", params)
        plan = "\n".join(row[0] for row in cursor.fetchall())
    assert f"Bitmap Index Scan on {index}" in plan, plan
