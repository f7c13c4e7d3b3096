from __future__ import annotations

from django.urls import path

from accounts.views import teams

MEMBER = "<slug:slug>/members/<int:membership_id>/"

urlpatterns = [
    path("", teams.team_list, name="team-list"),
    path("<slug:slug>/", teams.team_detail, name="team-detail"),
    path("<slug:slug>/members/add/", teams.member_add, name="team-member-add"),
    path(MEMBER + "role/", teams.member_role, name="team-member-role"),
    path(MEMBER + "remove/", teams.member_remove, name="team-member-remove"),
]
