"""How much relief each procedure gave: the rules, their SQL twin, survival statistics, eligibility, the report and its charts."""
