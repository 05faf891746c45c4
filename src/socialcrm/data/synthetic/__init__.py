"""The embedded default data set: a synthetic Social CRM world with known ground truth.

Stages (each in its own module, all pure: arrays in, arrays out):

- :mod:`.population`: persons, communities (homophily), traits, demographics,
  consent, platform use by age, purchase rates and spend;
- :mod:`.graph`: ties between persons, accounts, observed follow/mention/reply
  edges, referrals over ties;
- :mod:`.simulate`: the monthly life of every customer (tickets, satisfaction,
  posts, churn hazard with contagion, purchases, campaigns);
- :mod:`.text`: post texts that carry sentiment and complaints in words;
- :mod:`.world`: assembly into canonical and ``truth/`` tables.

:func:`socialcrm.data.generate.write_synthetic` writes them to disk.
"""
