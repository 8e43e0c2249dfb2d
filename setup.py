from setuptools import find_packages, setup

setup(
    name="nbserver",
    version="0.1.0",
    description="A lean Tornado notebook server that speaks the Jupyter Server REST API",
    long_description=open("README.md", encoding="utf-8").read(),
    long_description_content_type="text/markdown",
    python_requires=">=3.10",
    packages=find_packages(include=["nbserver", "nbserver.*"]),
    include_package_data=True,
    package_data={"nbserver": ["static/**/*", "templates/**/*", "services/api/api.yaml"]},
    install_requires=[
        "tornado>=6.2,<7",  # uploads replace a private HTTP1Connection method (services/files/content_handlers.py)
        "nbformat>=5.7",
        "fastjsonschema>=2.16",  # validates notebooks with nbformat's schema, without importing nbformat
        "ujson>=5.4",  # writes notebooks; checked byte for byte against json, which it falls back to
        "orjson>=3.9",  # writes replies and float-free notebooks (large strings); checked as ujson is
        "msgspec>=0.18",  # reads JSON and writes float-free notebooks; checked against json at first use
        "xxhash>=3.0",  # fingerprints a changed notebook's bytes for its reply's entity tag
        "nbconvert>=7.0",
        "bleach>=6.0",  # sanitizes external notebooks' HTML (nbconvert depends on it too)
        "jupyter_client>=8.0",
        "jupyter_core>=5.0",
        "traitlets>=5.9",
        "ipykernel>=6.20",
        "pyzmq>=25",
        "terminado>=0.18",  # terminals: shells in ptys (its NamedTermManager)
        "docutils>=0.20",  # /rstservice and /view of .rst files
        "markdown-it-py>=3.0",  # /rstservice and /view of .md files (CommonMark)
    ],
    extras_require={
        "clusters": ["ipyparallel>=8.6"],  # /api/clusters and the dashboard's Clusters tab
        "postgres": ["psycopg[binary,pool]>=3.2"],  # the PostgreSQL store (Database.url, nbserver db)
        "test": [
            "ipyparallel>=8.6",
            "psycopg[binary,pool]>=3.2",
            "pytest>=7",
            "pytest-tornado>=0.8.1",
            "pytest-timeout>=2.1",
            "schemathesis>=4.0",
            "openapi-spec-validator>=0.7",
            "PyYAML>=6",
            "jupyter_server>=2.0",
            "playwright>=1.40",
            "mypy>=1.9",  # .ci/run checks nbserver/ with mypy --strict (mypy.ini)
            "types-docutils",
            "matplotlib>=3.7",  # the notebook page's browser tests draw a PNG figure
            "plotly>=5.0",  # ... and a Plotly figure (application/vnd.plotly.v1+json)
        ],
    },
    entry_points={"console_scripts": [
        "nbserver = nbserver.app:main",
        "nbserver-singleuser = nbserver.singleuser:main",  # under JupyterHub: c.Spawner.cmd
    ]},
)
