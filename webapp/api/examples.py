"""The seed's JSON examples (the design document Leadflow came from), shown in the API document on the
operations that take them. They are requirements: tests/api/test_openapi_contract.py sends each one."""

SEED_SEGMENT = {
    "name": "High-Value Auto Leads",
    "description": "Leads interested in auto insurance with high estimated value",
    "slug": "high-value-auto-leads",
    "is_active": True,
    "is_dynamic": True,
    "match_all_rules": True,
    "rules": [
        {"field": "insurance_type", "operator": "equals", "value": "auto"},
        {"field": "value_estimate", "operator": "greater_than", "value": "1000"},
        {"field": "status", "operator": "equals", "value": "new"},
    ],
}

SEED_AUTOMATION = {
    "name": "Welcome Email Automation",
    "description": "Send welcome email to new leads",
    "slug": "welcome-email-automation",
    "trigger_type": "lead_created",
    "trigger_configuration": {},
    "is_active": True,
    "run_immediately": True,
    "actions": [
        {
            "action_type": "send_email",
            "action_order": 0,
            "is_active": True,
            "configuration": {"template_id": 1, "subject": "Welcome to Our Insurance Services", "personalize": True},
        },
        {
            "action_type": "create_task",
            "action_order": 1,
            "is_active": True,
            "configuration": {"task_type": "follow_up", "title": "Follow up with new lead", "due_date": "2025-12-31", "assignee_id": 1},
        },
    ],
}

SEED_TEMPLATE = {
    "name": "Welcome Email",
    "slug": "welcome-email",
    "subject": "Welcome to {{company_name}} Insurance",
    "body_html": "<html><body><h1>Welcome {{first_name}}!</h1><p>Thank you for your interest in our insurance services.</p></body></html>",
    "body_text": "Welcome {{first_name}}!\n\nThank you for your interest in our insurance services.",
    "template_type": "marketing",
    "is_active": True,
}
