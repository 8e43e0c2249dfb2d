"""Kernels on a kernel gateway (Jupyter Enterprise Gateway, Kernel Gateway, or another nbserver).

``client.py`` holds the connection settings and speaks HTTP and websockets to the gateway;
``manager.py`` is the kernel manager the server uses when ``--gateway-url`` is set;
``relay.py`` is the channels bridge of one remote kernel; ``kernelspecs.py`` lists the gateway's
kernelspecs and proxies their resources.
"""
