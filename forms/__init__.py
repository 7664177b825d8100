"""WTForms classes and field validators (ID numbers, phones, division codes, uploads)."""
